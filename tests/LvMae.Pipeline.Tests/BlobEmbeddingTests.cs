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
        // Listed without shapes, the videos were planned from their headers in epoch 0: that first read loaded each good
        // blob whole into the cache (one miss each, plus the two failures per epoch); every window after came from memory.
        Assert.Equal((80L, 44L, 0L), (cache.Hits, cache.Misses, cache.Bypassed));
    }

    [Fact]
    public async Task Range_reads_of_any_rows_equal_the_whole_file_and_a_feed_over_blobs_equals_one_over_whole_loads()
    {
        var container = await azurite.NewContainerAsync("range");
        for (var k = 0; k < 30; k++) await UploadVideoAsync(container, k);
        var wide = Enumerable.Range(0, 7 * D).Select(i => i * 0.25 - 3.0).ToArray();   // float64 on disk, float32 in memory
        var f8 = new MemoryStream();
        new NpyArray("<f8", [7, D], wide.SelectMany(BitConverter.GetBytes).ToArray()).Write(f8);
        await container.UploadBlobAsync(BlobLayout.Embeddings("double", Encoder), BinaryData.FromBytes(f8.ToArray()));
        var loader = new BlobEmbeddingLoader(container);

        foreach (var id in Enumerable.Range(0, 30).Select(Id).Append("double"))
        {
            var video = new EmbeddedVideoDescriptor(id, Encoder);
            var whole = await loader.LoadAsync(video);
            var rows = await loader.OpenAsync(video);
            Assert.Equal((whole.SegmentCount, whole.Dimension), (rows.SegmentCount, rows.Dimension));
            var s = whole.SegmentCount;
            foreach (var (first, count) in new[] { (0, s), (0, 1), (s - 1, 1), (s / 2, s - s / 2), (s / 3, Math.Max(1, s / 3)) })
            {
                var expected = whole.Values[(first * D)..((first + count) * D)];
                Assert.Equal(expected, await rows.ReadRowsAsync(first, count));
            }
        }
        Assert.Equal(wide.Select(v => (float)v), (await (await loader.OpenAsync(new EmbeddedVideoDescriptor("double", Encoder))).ReadRowsAsync(0, 7)));

        // What NumPy also writes: big-endian (rows by range, bytes swapped) and Fortran order (read whole: no range holds a row).
        float[] values = [.. Enumerable.Range(0, 6 * D).Select(i => i * 0.5f - 2f)];
        byte[] bigEndian = [.. NpyArray.NpyHeader.Encode(">f4", fortranOrder: false, [6, D]), .. values.SelectMany(v => BitConverter.GetBytes(v).Reverse())];
        var columnMajor = Enumerable.Range(0, D).SelectMany(j => Enumerable.Range(0, 6).Select(i => values[i * D + j]));
        byte[] fortran = [.. NpyArray.NpyHeader.Encode("<f4", fortranOrder: true, [6, D]), .. columnMajor.SelectMany(BitConverter.GetBytes)];
        await container.UploadBlobAsync(BlobLayout.Embeddings("bigendian", Encoder), BinaryData.FromBytes(bigEndian));
        await container.UploadBlobAsync(BlobLayout.Embeddings("fortran", Encoder), BinaryData.FromBytes(fortran));
        foreach (var id in new[] { "bigendian", "fortran" })
        {
            var video = new EmbeddedVideoDescriptor(id, Encoder);
            Assert.Equal(values, (await loader.LoadAsync(video)).Values);
            var rows = await (await loader.OpenAsync(video)).ReadRowsAsync(2, 3);
            Assert.Equal(values[(2 * D)..(5 * D)], rows);
        }

        var (source, inMemory) = InMemory(30, D);
        var fromMemory = await CollectAsync(TrainingFeed.Start(source, inMemory, Options(D, epochs: 2)));
        var fromRanges = await CollectAsync(TrainingFeed.Start(source, loader, Options(D, epochs: 2)));
        Assert.Equal(fromMemory.Count, fromRanges.Count);
        for (var i = 0; i < fromMemory.Count; i++)
        {
            Assert.Equal(fromMemory[i].VideoIds, fromRanges[i].VideoIds);
            Assert.Equal(fromMemory[i].Embeddings, fromRanges[i].Embeddings);
        }
    }

    [Fact]
    public async Task Opening_for_range_reads_validates_the_header_as_strictly_as_a_whole_load()
    {
        var container = await azurite.NewContainerAsync("rangebad");
        var loader = new BlobEmbeddingLoader(container);
        var valid = new MemoryStream();
        NpyArray.FromFloats(Enumerable.Range(0, 20).Select(i => (float)i).ToArray(), 5, 4).Write(valid);
        var bytes = valid.ToArray();
        await container.UploadBlobAsync(BlobLayout.Embeddings("magic", Encoder), BinaryData.FromBytes([0x93, (byte)'N', (byte)'O', 1, 2, 3, 4, 5, 6, 7, 8]));
        await container.UploadBlobAsync(BlobLayout.Embeddings("cut-header", Encoder), BinaryData.FromBytes(bytes[..40]));
        await container.UploadBlobAsync(BlobLayout.Embeddings("cut-data", Encoder), BinaryData.FromBytes(bytes[..^8]));
        await container.UploadBlobAsync(BlobLayout.Embeddings("empty", Encoder), BinaryData.FromBytes([]));
        await container.UploadBlobAsync(BlobLayout.Embeddings("garbled", Encoder),
            BinaryData.FromBytes([.. bytes[..10], .. System.Text.Encoding.Latin1.GetBytes("{'descr': '<f4', 'shape': (5, 4), }".PadRight(bytes.Length - 10))]));
        await UploadNpyAsync(container, BlobLayout.Embeddings("ints", Encoder), NpyArray.FromLongs([1, 2, 3, 4], 2, 2));
        await UploadNpyAsync(container, BlobLayout.Embeddings("flat", Encoder), NpyArray.FromFloats([1, 2, 3, 4], 4));
        await UploadNpyAsync(container, BlobLayout.Embeddings("nan", Encoder), NpyArray.FromFloats([1, 2, 3, 4, 5, float.NaN, 7, 8], 4, 2));

        async Task<EmbeddingLoadException> Fails(string id, int segments = 0) =>
            await Assert.ThrowsAsync<EmbeddingLoadException>(() => loader.OpenAsync(new EmbeddedVideoDescriptor(id, Encoder, segments)));
        Assert.Contains("not found", (await Fails("missing")).Reason);
        Assert.Contains("bad magic", (await Fails("magic")).Reason);
        Assert.Contains("truncated", (await Fails("cut-header")).Reason);
        Assert.Contains("truncated", (await Fails("cut-data")).Reason);
        Assert.Contains("corrupt .npy", (await Fails("empty")).Reason);
        Assert.Contains("malformed .npy header", (await Fails("garbled")).Reason);
        Assert.Contains("dtype '<i8'", (await Fails("ints")).Reason);
        Assert.Contains("[segments, dimension]", (await Fails("flat")).Reason);
        await UploadNpyAsync(container, BlobLayout.Embeddings("five", Encoder), NpyArray.FromFloats(new float[20], 5, 4));
        Assert.Contains("index says 99", (await Fails("five", segments: 99)).Reason);
        var named = await Fails("cut-data");
        Assert.Equal("cut-data", named.VideoId);
        Assert.Contains(BlobLayout.Embeddings("cut-data", Encoder), named.Reason);

        // Only the rows read are checked for NaN: rows 0-1 are clean, row 2 holds one.
        var nan = await loader.OpenAsync(new EmbeddedVideoDescriptor("nan", Encoder));
        var clean = await nan.ReadRowsAsync(0, 2);
        Assert.Equal([1f, 2f, 3f, 4f], clean);
        Assert.Contains("non-finite value at segment 2", (await Assert.ThrowsAsync<EmbeddingLoadException>(() => nan.ReadRowsAsync(1, 3))).Reason);

        // A blob rewritten between its header and its rows is refused (the header no longer describes it).
        var rewritten = await loader.OpenAsync(new EmbeddedVideoDescriptor("five", Encoder));
        await UploadNpyAsync(container, BlobLayout.Embeddings("five", Encoder), NpyArray.FromFloats(new float[40], 10, 4));
        Assert.Contains("rewritten", (await Assert.ThrowsAsync<EmbeddingLoadException>(() => rewritten.ReadRowsAsync(0, 2))).Reason);
        var reopened = await loader.OpenAsync(new EmbeddedVideoDescriptor("five", Encoder));   // its header is read afresh
        Assert.Equal(10, reopened.SegmentCount);
        var rows = await reopened.ReadRowsAsync(8, 2);
        Assert.Equal(new float[8], rows);
    }

    [Fact]
    public async Task A_videos_header_is_read_once_then_each_window_is_one_range_request()
    {
        var container = await azurite.NewContainerAsync("onerequest");
        await UploadVideoAsync(container, 12);
        var requests = new RequestCounter();
        var options = new BlobClientOptions();
        options.AddPolicy(requests, Azure.Core.HttpPipelinePosition.PerCall);
        var loader = new BlobEmbeddingLoader(new BlobContainerClient(azurite.ConnectionString, container.Name, options));
        var video = new EmbeddedVideoDescriptor(Id(12), Encoder);
        var segments = SegmentsOf(12);

        var first = await (await loader.OpenAsync(video)).ReadRowsAsync(0, 2);
        Assert.Equal(2, requests.Ranges.Count);                    // the header, then the rows
        var second = await (await loader.OpenAsync(video)).ReadRowsAsync(segments - 3, 3);
        Assert.Equal(3, requests.Ranges.Count);                    // the rows alone
        Assert.Equal(Embeddings(12, D).Values[..(2 * D)], first);
        Assert.Equal(Embeddings(12, D).Values[((segments - 3) * D)..], second);
        var rowBytes = D * sizeof(float);
        Assert.EndsWith($"-{128 + segments * rowBytes - 1}", requests.Ranges[^1]);   // only up to the window's last row
        Assert.Contains($"={128 + (segments - 3) * rowBytes}-", requests.Ranges[^1]);
    }

    /// <summary>Records the Range header of every request a blob client sends.</summary>
    private sealed class RequestCounter : Azure.Core.Pipeline.HttpPipelineSynchronousPolicy
    {
        public List<string> Ranges { get; } = [];

        public override void OnSendingRequest(Azure.Core.HttpMessage message)
        {
            if (message.Request.Headers.TryGetValue("x-ms-range", out var range) || message.Request.Headers.TryGetValue("Range", out range))
                lock (Ranges) Ranges.Add(range ?? "");
        }
    }

    [Fact]
    public async Task A_header_longer_than_the_first_range_request_is_read_in_full()
    {
        var container = await azurite.NewContainerAsync("longheader");
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
        var headerLength = 64 * ((BlobEmbeddingLoader.HeaderProbeBytes + 200) / 64) - 10;   // past the probe, data 64-aligned
        var header = System.Text.Encoding.Latin1.GetBytes(dict.PadRight(headerLength - 1) + "\n");
        float[] values = [1, 2, 3, 4, 5, 6];
        byte[] file = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)(headerLength & 0xFF), (byte)(headerLength >> 8),
            .. header, .. values.SelectMany(BitConverter.GetBytes)];
        await container.UploadBlobAsync(BlobLayout.Embeddings("long", Encoder), BinaryData.FromBytes(file));

        var loader = new BlobEmbeddingLoader(container);
        Assert.Equal(values, (await loader.LoadAsync(new EmbeddedVideoDescriptor("long", Encoder))).Values);
        var rows = await loader.OpenAsync(new EmbeddedVideoDescriptor("long", Encoder));
        Assert.Equal((3, 2), (rows.SegmentCount, rows.Dimension));
        var read = await rows.ReadRowsAsync(1, 2);
        Assert.Equal([3f, 4f, 5f, 6f], read);
    }
}
