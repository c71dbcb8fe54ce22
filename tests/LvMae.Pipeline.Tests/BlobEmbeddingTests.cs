using Azure.Storage.Blobs;
using LvMae.Formats;
using LvMae.Storage;
using LvMae.Testing;
using static LvMae.Pipeline.Tests.TestCorpus;

namespace LvMae.Pipeline.Tests;

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "azurite";
}

[Collection(AzuriteCollection.Name)]
public class BlobEmbeddingTests(AzuriteFixture azurite)
{
    private const int D = 4;

    private static async Task UploadNpyAsync(BlobContainerClient container, string name, NpyArray array, IDictionary<string, string>? metadata = null)
    {
        using var stream = new MemoryStream();
        array.Write(stream);
        stream.Position = 0;
        var blob = container.GetBlobClient(name);
        await blob.UploadAsync(stream, overwrite: true);
        if (metadata is not null) await blob.SetMetadataAsync(metadata);
    }

    private static Task UploadVideoAsync(BlobContainerClient container, int k, string encoder = Encoder)
    {
        var e = Embeddings(k, D);
        return UploadNpyAsync(container, BlobLayout.Embeddings(Id(k), encoder), NpyArray.FromFloats(e.Values, e.SegmentCount, D));
    }

    [Fact]
    public async Task Blob_source_lists_only_this_encoders_embedding_blobs_with_metadata_shape()
    {
        var container = await azurite.NewContainerAsync("list");
        await UploadVideoAsync(container, 1);
        await UploadVideoAsync(container, 2);
        await UploadVideoAsync(container, 3, encoder: "resnet18");
        await container.UploadBlobAsync(BlobLayout.Source(Id(4), "mp4"), BinaryData.FromString("not embeddings"));
        await container.UploadBlobAsync(BlobLayout.Segments(Id(1)), BinaryData.FromString("{}"));
        var e = Embeddings(5, D);
        await UploadNpyAsync(container, BlobLayout.Embeddings(Id(5), Encoder), NpyArray.FromFloats(e.Values, e.SegmentCount, D),
            new Dictionary<string, string> { ["segments"] = e.SegmentCount.ToString(), ["dimension"] = D.ToString() });

        var listed = new List<EmbeddedVideoDescriptor>();
        await foreach (var video in new BlobEmbeddedVideoSource(container).ListAsync(Encoder)) listed.Add(video);

        Assert.Equal([Id(1), Id(2), Id(5)], listed.Select(v => v.VideoId).Order());
        Assert.All(listed, v => Assert.Equal(Encoder, v.Encoder));
        Assert.Equal((e.SegmentCount, D), listed.Where(v => v.VideoId == Id(5)).Select(v => (v.SegmentCount, v.Dimension)).Single());
        Assert.Equal((0, 0), listed.Where(v => v.VideoId == Id(1)).Select(v => (v.SegmentCount, v.Dimension)).Single());
    }

    [Fact]
    public async Task Blob_loader_reads_a_valid_npy_and_names_the_video_for_missing_corrupt_or_misshapen_ones()
    {
        var container = await azurite.NewContainerAsync("load");
        var loader = new BlobEmbeddingLoader(container);
        await UploadVideoAsync(container, 7);
        await container.UploadBlobAsync(BlobLayout.Embeddings("corrupt", Encoder), BinaryData.FromBytes(new byte[] { 0x93, 1, 2, 3, 4 }));
        var truncated = new MemoryStream();
        NpyArray.FromFloats(new float[20], 5, 4).Write(truncated);
        await container.UploadBlobAsync(BlobLayout.Embeddings("truncated", Encoder), BinaryData.FromBytes(truncated.ToArray()[..^8]));
        await UploadNpyAsync(container, BlobLayout.Embeddings("ints", Encoder), NpyArray.FromLongs([1, 2, 3, 4], 2, 2));
        await UploadNpyAsync(container, BlobLayout.Embeddings("flat", Encoder), NpyArray.FromFloats([1, 2, 3, 4], 4));
        await UploadNpyAsync(container, BlobLayout.Embeddings("nan", Encoder), NpyArray.FromFloats([1, float.NaN, 3, 4], 2, 2));

        var loaded = await loader.LoadAsync(new EmbeddedVideoDescriptor(Id(7), Encoder));
        Assert.Equal(Embeddings(7, D).Values, loaded.Values);
        Assert.Equal((SegmentsOf(7), D), (loaded.SegmentCount, loaded.Dimension));

        async Task<EmbeddingLoadException> Fails(string id, int segments = 0, int dimension = 0) =>
            await Assert.ThrowsAsync<EmbeddingLoadException>(() => loader.LoadAsync(new EmbeddedVideoDescriptor(id, Encoder, segments, dimension)));
        Assert.Contains("not found", (await Fails("missing")).Reason);
        Assert.Contains("corrupt .npy", (await Fails("corrupt")).Reason);
        Assert.Contains("truncated", (await Fails("truncated")).Reason);
        Assert.Contains("dtype '<i8'", (await Fails("ints")).Reason);
        Assert.Contains("[segments, dimension]", (await Fails("flat")).Reason);
        Assert.Contains("non-finite", (await Fails("nan")).Reason);
        Assert.Contains("index says 99", (await Fails(Id(7), segments: 99)).Reason);
        var named = await Fails("missing");
        Assert.Equal("missing", named.VideoId);
        Assert.StartsWith("video 'missing'", named.Message);
    }

    [Fact]
    public async Task Feed_from_azurite_delivers_the_good_videos_and_reports_the_missing_and_corrupt_ones()
    {
        var container = await azurite.NewContainerAsync("feed");
        for (var k = 0; k < 40; k++) await UploadVideoAsync(container, k);
        await container.UploadBlobAsync(BlobLayout.Embeddings("broken", Encoder), BinaryData.FromString("definitely not numpy"));
        await UploadVideoAsync(container, 3, encoder: "resnet18"); // another encoder: not listed at all

        // The blob listing finds 41 videos (one corrupt); an index-style source also names one with no blob.
        var blobSource = new BlobEmbeddedVideoSource(container);
        var listed = new List<EmbeddedVideoDescriptor>();
        await foreach (var v in blobSource.ListAsync(Encoder)) listed.Add(v);
        var source = new InMemoryEmbeddedVideoSource(listed.Append(new EmbeddedVideoDescriptor("vanished", Encoder)));
        var skipped = new RecordingProgress<SkippedVideo>();

        var cache = new CachingEmbeddingLoader(new BlobEmbeddingLoader(container), byteBudget: 1 << 20);
        await using var feed = TrainingFeed.Start(source, cache, Options(D, epochs: 2), skipped);
        var batches = await CollectAsync(feed);

        Assert.Equal(80, batches.Sum(b => b.Count));
        foreach (var epoch in new[] { 0L, 1L })
            Assert.Equal(Enumerable.Range(0, 40).Select(Id), batches.Where(b => b.Epoch == epoch).SelectMany(b => b.VideoIds).Order());
        Assert.Equal(["broken", "broken", "vanished", "vanished"], skipped.Items.Select(s => s.VideoId).Order());
        Assert.Contains(skipped.Items, s => s.VideoId == "broken" && s.Reason.Contains("corrupt .npy"));
        Assert.Contains(skipped.Items, s => s.VideoId == "vanished" && s.Reason.Contains("not found"));
        Assert.Equal(40, cache.Hits); // the second epoch came from the cache
    }
}
