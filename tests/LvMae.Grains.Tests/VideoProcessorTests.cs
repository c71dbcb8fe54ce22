using System.Security.Cryptography;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Media;
using LvMae.Storage;
using LvMae.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace LvMae.Grains.Tests;

/// <summary>
/// A video's media work without a cluster: <see cref="VideoProcessor"/> on a real Azurite with real ffmpeg and the builtin
/// encoder, one job slot, its own scratch folder.
/// </summary>
public sealed class VideoProcessorTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-processor-").FullName;
    private readonly MediaJobLimiter _limiter = new(1);
    private ScratchSpace? _scratch;
    /// <summary>The source stores' credentials as the source-store grains would hold them.</summary>
    private readonly Dictionary<string, SourceStoreAccess> _stores = new(StringComparer.Ordinal);
    private MediaWork? _media;

    public void Dispose()
    {
        _media?.Dispose();
        _scratch?.Dispose();
        _limiter.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private async Task<(VideoProcessor Processor, BlobStore Blobs, ScratchSpace Scratch)> StartAsync()
    {
        var options = new ProcessingOptions { MaxConcurrentJobs = 1, WorkDirectory = _dir };
        var blobs = new BlobStore(await azurite.NewContainerAsync("processor"));
        _scratch = new ScratchSpace(Microsoft.Extensions.Options.Options.Create(options), NullLogger<ScratchSpace>.Instance);
        _media = new MediaWork(Microsoft.Extensions.Options.Options.Create(options));
        var sources = new SourceBlobs(azurite.ConnectionString, null, store => Task.FromResult(_stores.GetValueOrDefault(store)));
        return (new VideoProcessor(blobs, _media, _limiter, _scratch, options, sources), blobs, _scratch);
    }

    /// <summary>A generated video uploaded as a registered video's source; its state as Register leaves it.</summary>
    private async Task<(string Id, VideoState Video)> UploadVideoAsync(BlobStore blobs, double seconds)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.mp4");
        await TestVideos.GenerateAsync(path, seconds, "testsrc2", size: 32, fps: 5);
        var id = "v" + Guid.NewGuid().ToString("N")[..24];
        var source = $"videos/{id}/source.mp4";
        await blobs.UploadFileAsync(source, path);
        return (id, new VideoState { Stage = VideoStage.Registered, SourceBlob = source, Encoder = "builtin", SizeBytes = new FileInfo(path).Length, ContentHash = "c0ffee" });
    }

    private static int FilesIn(ScratchSpace scratch) => Directory.EnumerateFiles(scratch.Root, "*", SearchOption.AllDirectories).Count(f => !f.EndsWith(".owner.lock", StringComparison.Ordinal));

    [Fact]
    public async Task A_registered_video_goes_through_probe_and_plan_to_uploaded_embeddings_and_gives_slot_and_scratch_back()
    {
        var (processor, blobs, scratch) = await StartAsync();
        var (id, video) = await UploadVideoAsync(blobs, 13);
        var stages = new List<(VideoStage Stage, bool Probed, int Segments, int FilesInScratch)>();
        var progress = new List<double>();
        var waiting = new List<bool>();
        var hooks = new VideoWorkHooks(stage =>
        {
            video.Stage = stage; // what the grain's transition does (before it commits)
            stages.Add((stage, video.Probe is not null, video.SegmentCount, FilesIn(scratch)));
            return Task.CompletedTask;
        }, progress.Add, waiting.Add);

        var done = await processor.ProcessAsync(id, video, hooks, CancellationToken.None);

        // Each stage's data was in the state when it was committed; the source sat in scratch meanwhile.
        Assert.Equal([(VideoStage.Probed, true, 0, 1), (VideoStage.Segmented, true, 3, 1)], stages);
        Assert.Equal(13, video.Probe!.DurationSeconds, 0.5);
        Assert.Equal((32, 32), (video.Probe.Width, video.Probe.Height));
        Assert.Equal([true, false], waiting);
        Assert.Equal(0, progress[0]);
        Assert.All(progress, p => Assert.InRange(p, 0, 1));

        // The embeddings and segments.json are written; the state (the caller's) is not touched beyond the stages.
        Assert.NotNull(done);
        Assert.Equal(BlobLayout.Embeddings(id, "builtin"), done.Blob);
        Assert.Equal(3, done.Rows);
        Assert.Null(done.Warning);
        Assert.Equal(VideoStage.Segmented, video.Stage);
        var bytes = (await blobs.TryDownloadAsync(done.Blob))!;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), done.Sha256);
        Assert.Equal(done.Sha256, (await blobs.TryGetPropertiesAsync(done.Blob))!.Metadata["sha256"]);
        var npy = NpyArray.Read(new MemoryStream(bytes));
        Assert.Equal([3L, done.Dimension], npy.Shape);
        var segments = System.Text.Encoding.UTF8.GetString((await blobs.TryDownloadAsync(BlobLayout.Segments(id)))!);
        Assert.Contains(id, segments);
        Assert.Contains("c0ffee", segments);

        Assert.Equal(0, FilesIn(scratch));
        Assert.Equal((0, 1L), (_limiter.Running, _limiter.Completed));
    }

    [Fact]
    public async Task A_video_resumed_after_its_plan_is_encoded_without_new_stages()
    {
        var (processor, blobs, _) = await StartAsync();
        var (id, video) = await UploadVideoAsync(blobs, 9);
        var local = Path.Combine(_dir, "probe.mp4");
        await blobs.DownloadToFileAsync(video.SourceBlob!, local);
        var info = await _media!.InspectAsync(local, CancellationToken.None);
        video.Probe = new VideoFileInfo { DurationSeconds = info.DurationSeconds, FrameRate = info.FrameRate, Width = info.Width, Height = info.Height, Codec = info.Codec };
        video.SegmentCount = 2;
        video.Stage = VideoStage.Segmented;

        var advanced = new List<VideoStage>();
        var done = await processor.ProcessAsync(id, video, new VideoWorkHooks(s => { advanced.Add(s); return Task.CompletedTask; }), CancellationToken.None);

        Assert.Empty(advanced);
        Assert.Equal(2, done!.Rows);
        Assert.NotNull(await blobs.TryGetPropertiesAsync(done.Blob));
    }

    [Fact]
    public async Task Nothing_is_downloaded_before_a_job_slot_is_free()
    {
        var (processor, blobs, scratch) = await StartAsync();
        var (id, video) = await UploadVideoAsync(blobs, 6);
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<Embedding?> work;
        await using (await _limiter.AcquireAsync(CancellationToken.None)) // this silo's only slot, taken by another job
        {
            work = processor.ProcessAsync(id, video, new VideoWorkHooks(s => { video.Stage = s; return Task.CompletedTask; },
                WaitingForSlot: w => { if (w) waiting.TrySetResult(); }), CancellationToken.None);
            await waiting.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(300); // time a download would have needed to start
            Assert.False(work.IsCompleted);
            Assert.Equal(0, FilesIn(scratch));
            Assert.Equal(1, _limiter.Waiting);
        }
        Assert.NotNull(await work.WaitAsync(TimeSpan.FromMinutes(2)));
    }

    [Fact]
    public async Task A_missing_or_corrupt_source_is_a_permanent_media_error_and_leaves_no_scratch_and_no_slot_taken()
    {
        var (processor, blobs, scratch) = await StartAsync();
        var hooks = new VideoWorkHooks(_ => Task.CompletedTask);
        var missing = new VideoState { Stage = VideoStage.Registered, SourceBlob = "videos/vmissing/source.mp4", Encoder = "builtin" };
        var notFound = await Assert.ThrowsAsync<MediaException>(() => processor.ProcessAsync("vmissing", missing, hooks, CancellationToken.None));
        Assert.Equal(MediaErrorKind.FileNotFound, notFound.Kind);
        Assert.Equal(("FileNotFound", true), VideoFailures.Classify(notFound));

        var random = new byte[4096];
        new Random(7).NextBytes(random);
        await blobs.UploadAsync("videos/vcorrupt/source.mp4", random);
        var corrupt = new VideoState { Stage = VideoStage.Registered, SourceBlob = "videos/vcorrupt/source.mp4", Encoder = "builtin" };
        var bad = await Assert.ThrowsAsync<MediaException>(() => processor.ProcessAsync("vcorrupt", corrupt, hooks, CancellationToken.None));
        Assert.True(VideoFailures.Classify(bad).Permanent, bad.Message);
        Assert.Null(corrupt.Probe);

        Assert.Equal(0, FilesIn(scratch));
        Assert.Equal(0, _limiter.Running);
    }

    // ---- sources registered in place -------------------------------------------------------------------------------

    /// <summary>A generated video uploaded into a container of its own (where a corpus already lives); its registered source and state.</summary>
    private async Task<(string Id, VideoState Video, Azure.Storage.Blobs.BlobContainerClient Corpus, string Path)> InPlaceVideoAsync(double seconds, string store = "")
    {
        var corpus = await azurite.NewContainerAsync("corpus");
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.mp4");
        await TestVideos.GenerateAsync(path, seconds, "testsrc2", size: 32, fps: 5);
        var name = $"clips/2026/{Path.GetFileName(path)}";
        var uploaded = (await corpus.GetBlobClient(name).UploadAsync(path)).Value;
        var source = new BlobSource
        {
            Store = store, Account = corpus.AccountName, Container = corpus.Name, Blob = name, ETag = uploaded.ETag.ToString(),
            Length = new FileInfo(path).Length,
        };
        var id = "v" + Guid.NewGuid().ToString("N")[..24];
        return (id, new VideoState { Stage = VideoStage.Registered, SourceBlob = source.ToString(), InPlace = source, Encoder = "builtin", SizeBytes = source.Length }, corpus, path);
    }

    private static VideoWorkHooks Advancing(VideoState video) => new(s => { video.Stage = s; return Task.CompletedTask; });

    [Fact]
    public async Task A_source_registered_in_place_is_read_where_it_is_and_never_copied_into_the_data_container()
    {
        var (processor, blobs, scratch) = await StartAsync();
        var (id, video, corpus, path) = await InPlaceVideoAsync(11);

        var done = await processor.ProcessAsync(id, video, Advancing(video), CancellationToken.None);

        Assert.Equal(3, done!.Rows);
        // The hash of what was embedded is taken by the silo (the client never read the bytes).
        await using (var file = File.OpenRead(path)) Assert.Equal(Convert.ToHexStringLower(await SHA256.HashDataAsync(file)), video.ContentHash);
        var stored = new List<string>();
        await foreach (var b in blobs.ListAsync("")) stored.Add(b.Name);
        Assert.Equal([BlobLayout.Embeddings(id, "builtin"), BlobLayout.Segments(id)], stored.Order(StringComparer.Ordinal));
        Assert.True((await corpus.GetBlobClient(video.InPlace!.Blob).ExistsAsync()).Value); // left where it was
        Assert.Equal(0, FilesIn(scratch));
    }

    [Fact]
    public async Task A_source_changed_or_deleted_after_its_registration_is_a_clear_permanent_failure_and_nothing_is_embedded()
    {
        var (processor, blobs, scratch) = await StartAsync();
        var (id, video, corpus, _) = await InPlaceVideoAsync(6);
        var other = Path.Combine(_dir, "other.mp4");
        await TestVideos.GenerateAsync(other, 6, "rgbtestsrc", size: 32, fps: 5);
        await corpus.GetBlobClient(video.InPlace!.Blob).UploadAsync(other, overwrite: true); // replaced by other content

        var changed = await Assert.ThrowsAsync<MediaException>(() => processor.ProcessAsync(id, video, Advancing(video), CancellationToken.None));
        Assert.Equal(MediaErrorKind.SourceChanged, changed.Kind);
        Assert.Equal((VideoFailure.SourceChangedKind, true), VideoFailures.Classify(changed));
        Assert.Contains(video.InPlace.Blob, changed.Message);
        Assert.Contains("--reembed-changed", changed.Message);
        Assert.Null(video.Probe);
        Assert.Empty(await blobs.ListAsync("").ToListAsync());

        await corpus.GetBlobClient(video.InPlace.Blob).DeleteAsync();
        var gone = await Assert.ThrowsAsync<MediaException>(() => processor.ProcessAsync(id, video, Advancing(video), CancellationToken.None));
        Assert.Equal((VideoFailure.SourceMissingKind, true), VideoFailures.Classify(gone));
        Assert.Contains("does not exist", gone.Message);
        Assert.Equal(0, FilesIn(scratch));
        Assert.Equal(0, _limiter.Running);
    }

    [Fact]
    public async Task Another_accounts_source_is_read_with_its_stores_SAS_and_a_denied_or_unknown_store_is_a_clear_failure()
    {
        var (processor, _, _) = await StartAsync();
        var (id, video, corpus, _) = await InPlaceVideoAsync(6, store: "elsewhere/corpus");
        var sas = corpus.GenerateSasUri(Azure.Storage.Sas.BlobContainerSasPermissions.Read | Azure.Storage.Sas.BlobContainerSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1));
        var url = sas.GetLeftPart(UriPartial.Path);

        // No credentials for the store yet.
        var unknown = await Assert.ThrowsAsync<MediaException>(() => processor.ProcessAsync(id, video, Advancing(video), CancellationToken.None));
        Assert.Equal(MediaErrorKind.SourceDenied, unknown.Kind);
        Assert.Contains("elsewhere/corpus", unknown.Message);

        // A SAS whose signature is wrong: denied, named.
        _stores["elsewhere/corpus"] = new SourceStoreAccess { ContainerUrl = url, SasToken = sas.Query.TrimStart('?').Replace("sig=", "sig=AAAA", StringComparison.Ordinal) };
        var denied = await Assert.ThrowsAsync<MediaException>(() => processor.ProcessAsync(id, video, Advancing(video), CancellationToken.None));
        Assert.Equal(MediaErrorKind.SourceDenied, denied.Kind);
        Assert.Contains("40", denied.Message);

        // The store's SAS replaced (a rotated credential) is used at once after a denial.
        _stores["elsewhere/corpus"] = new SourceStoreAccess { ContainerUrl = url, SasToken = sas.Query.TrimStart('?') };
        var done = await processor.ProcessAsync(id, video, Advancing(video), CancellationToken.None);
        Assert.Equal(2, done!.Rows);
    }

    private static byte[] Npy(int rows, int dimension, float start = 0)
    {
        using var buffer = new MemoryStream();
        NpyArray.FromFloats(Enumerable.Range(0, rows * dimension).Select(i => start + i).ToArray(), rows, dimension).Write(buffer);
        return buffer.ToArray();
    }

    private static VideoState ImportState(string id, byte[] content) => new()
    {
        Stage = VideoStage.Registered, Kind = VideoSourceKind.Embeddings, SourceBlob = BlobLayout.Embeddings(id, "imported"), Encoder = "imported",
        OriginalName = "mine.npy", SizeBytes = content.Length, ContentHash = Convert.ToHexStringLower(SHA256.HashData(content)),
    };

    [Fact]
    public async Task Carried_import_bytes_are_validated_before_they_are_stored_and_replace_only_other_content()
    {
        var (processor, blobs, _) = await StartAsync();
        var good = Npy(7, 16);
        var video = ImportState("vcarried", good);

        var bad = "not an npy"u8.ToArray();
        var refused = await Assert.ThrowsAsync<MediaException>(() => processor.ImportAsync(ImportState("vcarried", bad), bad, CancellationToken.None));
        Assert.Equal(MediaErrorKind.BadEmbeddings, refused.Kind);
        Assert.Null(await blobs.TryGetPropertiesAsync(video.SourceBlob!)); // nothing invalid was ever stored

        // Another file left at the embeddings name (a failed import) is replaced; the same content again is kept as it is.
        await blobs.UploadAsync(video.SourceBlob!, Npy(2, 16, 100));
        var imported = await processor.ImportAsync(video, good, CancellationToken.None);
        Assert.Equal(new Embedding(video.SourceBlob!, 7, 16, "imported", video.ContentHash), imported);
        var stored = (await blobs.TryGetPropertiesAsync(video.SourceBlob!))!;
        Assert.Equal(video.ContentHash, stored.Metadata["sha256"]);
        Assert.Equal(good, await blobs.TryDownloadAsync(video.SourceBlob!));
        Assert.Equal(imported, await processor.ImportAsync(video, good, CancellationToken.None));
        Assert.Equal(stored.ETag, (await blobs.TryGetPropertiesAsync(video.SourceBlob!))!.ETag);
    }

    [Fact]
    public async Task An_uploaded_import_is_validated_as_stored_and_an_invalid_or_foreign_one_is_reported()
    {
        var (processor, blobs, _) = await StartAsync();
        var good = Npy(5, 8);
        var video = ImportState("vuploaded", good);
        await blobs.UploadAsync(video.SourceBlob!, good, BlobLayout.ImportMetadata(video.ContentHash!, "imported", "mine.npy"));
        Assert.Equal(new Embedding(video.SourceBlob!, 5, 8, "imported", video.ContentHash), await processor.ImportAsync(video, null, CancellationToken.None));

        // Registered with other content than the blob holds: refused, the blob (someone's valid file) stays.
        var other = ImportState("vuploaded", Npy(3, 8, 1));
        var foreign = await Assert.ThrowsAsync<MediaException>(() => processor.ImportAsync(other, null, CancellationToken.None));
        Assert.Contains("holds other content", foreign.Problem);
        Assert.NotNull(await blobs.TryGetPropertiesAsync(video.SourceBlob!));

        // An invalid file is named by the user's file and deleted, so nothing unusable sits at the embeddings name.
        var bad = "not an npy at all"u8.ToArray();
        var invalid = ImportState("vinvalid", bad);
        await blobs.UploadAsync(invalid.SourceBlob!, bad, BlobLayout.ImportMetadata(invalid.ContentHash!, "imported", "mine.npy"));
        var error = await Assert.ThrowsAsync<MediaException>(() => processor.ImportAsync(invalid, null, CancellationToken.None));
        Assert.Equal(("mine.npy", MediaErrorKind.BadEmbeddings), (error.Input, error.Kind));
        Assert.Null(await blobs.TryGetPropertiesAsync(invalid.SourceBlob!));

        var missing = await Assert.ThrowsAsync<MediaException>(() => processor.ImportAsync(ImportState("vnone", good), null, CancellationToken.None));
        Assert.Equal(MediaErrorKind.FileNotFound, missing.Kind);
    }
}
