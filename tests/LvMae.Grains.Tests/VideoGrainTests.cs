using LvMae.Client;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Grains;
using LvMae.Storage;

namespace LvMae.Grains.Tests;

[Collection(GrainsClusterCollection.Name)]
public sealed class VideoGrainTests(GrainsClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task Small_corpus_reaches_the_right_terminal_states_and_a_corrupt_file_fails_alone()
    {
        var good = new List<(string Path, double Seconds)>();
        foreach (var (source, seconds) in new[] { ("testsrc2", 12.0), ("smptebars", 7.0), ("mandelbrot", 5.0), ("rgbtestsrc", 16.0) })
            good.Add((await fixture.NewVideoAsync(seconds, source), seconds));
        var corrupt = fixture.CorruptFile();

        var results = new List<IngestResult>();
        foreach (var (path, _) in good)
            results.Add(await fixture.Ingestor.IngestFileAsync(path, "builtin", ["good", "corpus-a"]));
        var bad = await fixture.Ingestor.IngestFileAsync(corrupt, "builtin", ["corpus-a"]);
        Assert.All(results.Append(bad), r => Assert.True(r.Status.Exists));

        var index = await fixture.WaitForIndexAsync(results.Select(r => r.VideoId).Append(bad.VideoId).ToList(), Timeout);

        for (var i = 0; i < good.Count; i++)
        {
            var id = results[i].VideoId;
            Assert.Equal(VideoStage.Embedded, index[id].Stage);
            var status = await fixture.Client.GetGrain<IVideoGrain>(id).GetStatus();
            Assert.Equal(VideoStage.Embedded, status.Stage);
            Assert.Null(status.Failure);
            Assert.Equal(1.0, status.Progress);
            Assert.Equal(1, status.Attempts);
            var expectedSegments = (int)Math.Floor(good[i].Seconds / 5) + (good[i].Seconds % 5 >= 1 ? 1 : 0);
            Assert.Equal(expectedSegments, status.SegmentCount);
            Assert.Equal(BlobLayout.Embeddings(id, "builtin"), status.EmbeddingsBlob);

            // The data behind the state: .npy [N, d] with encoder metadata, segments.json beside it.
            var npyBytes = await fixture.Blobs.TryDownloadAsync(status.EmbeddingsBlob!);
            var npy = NpyArray.Read(new MemoryStream(npyBytes!));
            Assert.Equal([status.SegmentCount, status.Dimension], npy.Shape);
            var props = await fixture.Blobs.TryGetPropertiesAsync(status.EmbeddingsBlob!);
            Assert.Equal("builtin", props!.Metadata["encoder"]);
            Assert.False(string.IsNullOrEmpty(props.Metadata["encoderversion"]));
            var segments = System.Text.Encoding.UTF8.GetString((await fixture.Blobs.TryDownloadAsync(BlobLayout.Segments(id)))!);
            Assert.Contains(id, segments);
        }

        var failed = await fixture.Client.GetGrain<IVideoGrain>(bad.VideoId).GetStatus();
        Assert.Equal(VideoStage.Failed, failed.Stage);
        Assert.NotNull(failed.Failure);
        Assert.True(failed.Failure!.Permanent);
        Assert.Equal(1, failed.Attempts); // permanent: no retries
        Assert.False(string.IsNullOrWhiteSpace(failed.Failure.Message));
        Assert.Equal(failed.Failure.Kind, index[bad.VideoId].FailureKind);
        Assert.False(await fixture.Blobs.ExistsAsync(BlobLayout.Embeddings(bad.VideoId, "builtin")));

        // Corpus view from the index.
        var page = await fixture.Client.QueryAsync(new VideoQuery { Label = "corpus-a", Limit = 100 });
        Assert.Equal(5, page.Matching);
        var failures = await fixture.Client.QueryAsync(new VideoQuery { Label = "corpus-a", Stage = VideoStage.Failed });
        Assert.Equal([bad.VideoId], failures.Items.Select(e => e.Id));
        var summary = await fixture.Client.SummaryAsync();
        Assert.True(summary.ByLabel["corpus-a"] == 5 && summary.ByLabel["good"] == 4);
        Assert.True(summary.FailuresByKind[failed.Failure.Kind] >= 1);
        Assert.True(summary.ByEncoder["builtin"] >= 4);

        // The per-silo bound held.
        Assert.All(fixture.Limiters, l => Assert.True(l.PeakRunning <= GrainsClusterFixture.MaxJobsPerSilo));
    }

    [Fact]
    public async Task Ingesting_the_same_file_twice_is_idempotent()
    {
        var path = await fixture.NewVideoAsync(6, "life");
        var first = await fixture.Ingestor.IngestFileAsync(path, "builtin", ["twice"]);
        await fixture.WaitForIndexAsync([first.VideoId], Timeout);
        var embedded = await fixture.Client.GetGrain<IVideoGrain>(first.VideoId).GetStatus();
        var etag = (await fixture.Blobs.TryGetPropertiesAsync(embedded.EmbeddingsBlob!))!.ETag;
        var entry = await fixture.Client.IndexEntryAsync(first.VideoId);

        var copy = Path.Combine(fixture.MediaDir, $"copy-{Guid.NewGuid():N}.mp4");
        File.Copy(path, copy);
        var second = await fixture.Ingestor.IngestFileAsync(copy, "builtin", ["twice"]);

        Assert.Equal(first.VideoId, second.VideoId);
        Assert.False(second.Uploaded);
        Assert.Equal(VideoStage.Embedded, second.Status.Stage);
        Assert.False(second.Status.Working);
        Assert.Equal(embedded.UpdatedAt, second.Status.UpdatedAt);
        Assert.Equal(etag, (await fixture.Blobs.TryGetPropertiesAsync(embedded.EmbeddingsBlob!))!.ETag); // not re-encoded
        Assert.True(entry!.SameAs(await fixture.Client.IndexEntryAsync(first.VideoId)));
        Assert.Equal(1, (await fixture.Client.QueryAsync(new VideoQuery { Label = "twice" })).Matching);

        // A new label on re-ingest is merged and indexed; nothing is re-encoded.
        var third = await fixture.Ingestor.IngestFileAsync(copy, "builtin", ["extra-label"]);
        Assert.Equal(VideoStage.Embedded, third.Status.Stage);
        Assert.Equal(["twice", "extra-label"], third.Status.Labels);
        Assert.Equal(["twice", "extra-label"], (await fixture.Client.IndexEntryAsync(first.VideoId))!.Labels);
        Assert.Equal(etag, (await fixture.Blobs.TryGetPropertiesAsync(embedded.EmbeddingsBlob!))!.ETag);
    }

    [Fact]
    public async Task Stopping_a_silo_mid_ingestion_loses_nothing_and_duplicates_nothing()
    {
        var paths = new List<string>();
        for (var i = 0; i < 8; i++)
            paths.Add(await fixture.NewVideoAsync(40 + i, i % 2 == 0 ? "testsrc2" : "smptebars"));
        var ids = new List<string>();
        foreach (var path in paths)
            ids.Add((await fixture.Ingestor.IngestFileAsync(path, "builtin", ["failover"])).VideoId);

        // Kill a silo while work is under way (at least one video done, not all).
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            var done = (await fixture.Client.QueryAsync(new VideoQuery { Label = "failover", Stage = VideoStage.Embedded })).Matching;
            if (done >= 1) break;
            await Task.Delay(100);
        }
        var victim = fixture.Cluster.Silos[^1];
        await fixture.Cluster.KillSiloAsync(victim);
        var unfinishedAtKill = ids.Count - (await fixture.Client.QueryAsync(new VideoQuery { Label = "failover", Stage = VideoStage.Embedded })).Matching;
        Assert.True(unfinishedAtKill > 0, "the silo was killed after every video was done: the test proves nothing");

        var index = await fixture.WaitForIndexAsync(ids, Timeout);
        Assert.All(index.Values, e => Assert.Equal(VideoStage.Embedded, e.Stage));

        // Nothing duplicated: one index entry per video, one embeddings blob per video, rows = segments.
        var page = await fixture.Client.QueryAsync(new VideoQuery { Label = "failover", Limit = 1000 });
        Assert.Equal(ids.Order(StringComparer.Ordinal), page.Items.Select(e => e.Id).Order(StringComparer.Ordinal));
        foreach (var id in ids)
        {
            var blobs = new List<BlobEntry>();
            await foreach (var b in fixture.Blobs.ListAsync(BlobLayout.VideoPrefix(id) + "embeddings/")) blobs.Add(b);
            var single = Assert.Single(blobs);
            var npy = NpyArray.Read(new MemoryStream((await fixture.Blobs.TryDownloadAsync(single.Name))!));
            Assert.Equal(index[id].SegmentCount, npy.Shape[0]);
        }

        await fixture.Cluster.StartAdditionalSiloAsync();
        await fixture.Cluster.WaitForLivenessToStabilizeAsync();
    }

    [Fact]
    public async Task Transient_failures_are_retried_with_backoff_and_permanent_ones_are_not()
    {
        // Two transient failures: the third attempt succeeds.
        var flaky = await fixture.NewVideoAsync(6, "testsrc2");
        var (flakyId, _) = await VideoIngestor.ContentIdAsync(flaky);
        FlakyMediaWork.Failures[flakyId] = 2;
        // More transient failures than attempts: Failed (not permanent), then Retry succeeds.
        var broken = await fixture.NewVideoAsync(6, "smptebars");
        var (brokenId, _) = await VideoIngestor.ContentIdAsync(broken);
        FlakyMediaWork.Failures[brokenId] = GrainsClusterFixture.MaxAttempts;

        await fixture.Ingestor.IngestFileAsync(flaky, "builtin", ["flaky"]);
        await fixture.Ingestor.IngestFileAsync(broken, "builtin", ["flaky"]);
        var index = await fixture.WaitForIndexAsync([flakyId, brokenId], Timeout);

        Assert.Equal(VideoStage.Embedded, index[flakyId].Stage);
        Assert.Equal(3, (await fixture.Client.GetGrain<IVideoGrain>(flakyId).GetStatus()).Attempts);

        var failed = await fixture.Client.GetGrain<IVideoGrain>(brokenId).GetStatus();
        Assert.Equal(VideoStage.Failed, failed.Stage);
        Assert.Equal("ToolFailed", failed.Failure!.Kind);
        Assert.False(failed.Failure.Permanent);
        Assert.Equal(GrainsClusterFixture.MaxAttempts, failed.Attempts);

        var retried = await fixture.Client.GetGrain<IVideoGrain>(brokenId).Retry();
        Assert.NotEqual(VideoStage.Failed, retried.Stage);
        index = await fixture.WaitForIndexAsync([brokenId], Timeout);
        Assert.Equal(VideoStage.Embedded, index[brokenId].Stage);
        Assert.Equal(1, (await fixture.Client.GetGrain<IVideoGrain>(brokenId).GetStatus()).Attempts);
    }

    [Fact]
    public async Task Status_of_unknown_and_paging_over_the_index()
    {
        var unknown = await fixture.Client.GetGrain<IVideoGrain>("v-never-registered").GetStatus();
        Assert.False(unknown.Exists);
        Assert.Null(await fixture.Client.IndexEntryAsync("v-never-registered"));

        // Index-only entries (as video grains publish them) to check paging and filters at a size.
        var shardEntries = Enumerable.Range(0, 300).Select(i => new VideoIndexEntry
        {
            Id = $"page-{i:D4}",
            Stage = i % 3 == 0 ? VideoStage.Embedded : VideoStage.Failed, // finished: no work to dispatch for these index-only entries
            Encoder = "builtin",
            Labels = ["paging", i % 2 == 0 ? "even" : "odd"],
            EmbeddedEncoders = i % 3 == 0 ? ["builtin"] : [],
            UpdatedAt = DateTimeOffset.UtcNow.AddDays(-1),
            Version = 1,
        }).ToList();
        var layout = new IndexLayout(IndexLayout.DefaultShards);
        ICorpusIndexGrain Shard(string id) => fixture.Client.GetGrain<ICorpusIndexGrain>(layout.ShardOf(id));
        await Task.WhenAll(shardEntries.Select(e => Shard(e.Id).Upsert(e)));

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await fixture.Client.QueryAsync(new VideoQuery { Label = "paging", Cursor = cursor, Limit = 64 });
            Assert.Equal(300, page.Matching);
            Assert.True(page.Items.Count <= 64);
            seen.AddRange(page.Items.Select(e => e.Id));
            cursor = page.Next;
        } while (cursor is not null);
        Assert.Equal(shardEntries.Select(e => e.Id).Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal)); // each exactly once
        Assert.Equal(100, (await fixture.Client.QueryAsync(new VideoQuery { Label = "paging", Stage = VideoStage.Embedded })).Matching);
        Assert.Equal(150, (await fixture.Client.QueryAsync(new VideoQuery { Label = "even" })).Matching);

        // An older version arriving late is ignored.
        var e0 = shardEntries[0];
        await Shard(e0.Id).Upsert(e0 with { Version = 5, Stage = VideoStage.Embedded });
        await Shard(e0.Id).Upsert(e0 with { Version = 4, Stage = VideoStage.Failed });
        Assert.Equal(VideoStage.Embedded, (await fixture.Client.IndexEntryAsync(e0.Id))!.Stage);
    }

    [Theory]
    [InlineData(true)]  // small files travel inside the registration (the default)
    [InlineData(false)] // uploaded by the client first, then read back by the silo (what larger files do)
    public async Task Import_of_precomputed_embeddings_and_a_malformed_npy(bool inline)
    {
        var mode = inline ? "inline" : "upload";
        var ingestor = new VideoIngestor(fixture.Blobs, fixture.Client) { InlineImportBytes = inline ? VideoRegistration.MaxInlineContentBytes : 0 };
        var good = Path.Combine(fixture.MediaDir, $"imported-{mode}-1.npy");
        NpyArray.FromFloats(Enumerable.Range(0, 7 * 16).Select(i => (float)i).ToArray(), 7, 16).Write(good);
        var bad = Path.Combine(fixture.MediaDir, $"imported-{mode}-2.npy");
        await File.WriteAllTextAsync(bad, "not an npy");

        var a = await ingestor.ImportEmbeddingsAsync(good, "imported", ["import"]);
        var b = await ingestor.ImportEmbeddingsAsync(bad, "imported", ["import"]);
        Assert.Equal($"imported-{mode}-1", a.VideoId);
        // Stored with the content hash the state records; nothing invalid is left at the embeddings name.
        var stored = await fixture.Blobs.TryGetPropertiesAsync(BlobLayout.Embeddings(a.VideoId, "imported"));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(good))), stored!.Metadata["sha256"]);
        Assert.Null(await fixture.Blobs.TryGetPropertiesAsync(BlobLayout.Embeddings(b.VideoId, "imported")));
        // The same file again is the same video; other content under its id is refused.
        Assert.Equal(VideoStage.Embedded, (await ingestor.ImportEmbeddingsAsync(good, "imported", ["again"])).Status.Stage);
        var other = Path.Combine(fixture.MediaDir, "other", $"imported-{mode}-1.npy");
        Directory.CreateDirectory(Path.GetDirectoryName(other)!);
        NpyArray.FromFloats(new float[3 * 16], 3, 16).Write(other);
        Assert.Contains("other content", (await Assert.ThrowsAnyAsync<ArgumentException>(() => ingestor.ImportEmbeddingsAsync(other, "imported", []))).Message);
        var index = await fixture.WaitForIndexAsync([a.VideoId, b.VideoId], Timeout);
        Assert.Equal(VideoStage.Embedded, index[a.VideoId].Stage);
        Assert.Equal(7, index[a.VideoId].SegmentCount);
        Assert.Equal(VideoStage.Failed, index[b.VideoId].Stage);
        var status = await fixture.Client.GetGrain<IVideoGrain>(b.VideoId).GetStatus();
        Assert.True(status.Failure!.Permanent);
    }

    [Fact]
    public async Task Content_carried_by_a_registration_must_match_its_hash_and_kind()
    {
        var npy = Path.Combine(fixture.MediaDir, "carried.npy");
        NpyArray.FromFloats(new float[4 * 8], 4, 8).Write(npy);
        var content = await File.ReadAllBytesAsync(npy);
        var lying = await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Client.GetGrain<IVideoGrain>("v-carried").Register(new VideoRegistration
        {
            Kind = VideoSourceKind.Embeddings, SourceBlob = BlobLayout.Embeddings("v-carried", "imported"), Encoder = "imported",
            Content = content, ContentHash = new string('0', 64),
        }));
        Assert.Contains("not the 000000000000 it claims", lying.Message);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Client.GetGrain<IVideoGrain>("v-carried").Register(new VideoRegistration
        {
            Kind = VideoSourceKind.VideoFile, SourceBlob = "videos/v-carried/source.mp4", Encoder = "builtin", Content = content,
        }));
        // Neither stored anything nor registered the video.
        Assert.False((await fixture.Client.GetGrain<IVideoGrain>("v-carried").GetStatus()).Exists);
        Assert.Null(await fixture.Blobs.TryGetPropertiesAsync(BlobLayout.Embeddings("v-carried", "imported")));
    }

    [Fact]
    public async Task Registration_validates_its_input()
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Client.GetGrain<IVideoGrain>("bad id with spaces").Register(
            new VideoRegistration { SourceBlob = "videos/x/source.mp4", Encoder = "builtin" }));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Client.GetGrain<IVideoGrain>("v-ok").Register(
            new VideoRegistration { SourceBlob = "", Encoder = "builtin" }));
        // A registration cannot make a silo load a file of its choosing: model files come from the configured folder only.
        var model = await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Client.GetGrain<IVideoGrain>("v-model").Register(
            new VideoRegistration { SourceBlob = "videos/v-model/source.mp4", Encoder = "model:/etc/passwd" }));
        Assert.Contains("LvMae:Processing:ModelDirectory", model.Message);
        var label = await Assert.ThrowsAnyAsync<ArgumentException>(() => fixture.Client.GetGrain<IVideoGrain>("v-label").Register(
            new VideoRegistration { SourceBlob = "videos/v-label/source.mp4", Encoder = "builtin", Labels = [new string('x', 10_000)] }));
        Assert.Contains("10000 characters", label.Message);
    }

    [Fact]
    public void Model_specs_resolve_inside_the_model_folder_only_and_same_named_models_get_distinct_blobs()
    {
        var folder = Directory.CreateTempSubdirectory("lvmae-models-").FullName;
        Directory.CreateDirectory(Path.Combine(folder, "a"));
        File.WriteAllText(Path.Combine(folder, "a", "clip.onnx"), "x");
        var options = new ProcessingOptions { ModelDirectory = folder };
        Assert.Equal("model:" + Path.Combine(folder, "a", "clip.onnx"), EncoderSpecs.Resolve("model:a/clip.onnx", options));
        Assert.Contains("leads outside", Assert.Throws<ArgumentException>(() => EncoderSpecs.Resolve("model:../../etc/passwd", options)).Message);
        Assert.Contains("read from", Assert.Throws<ArgumentException>(() => EncoderSpecs.Resolve("model:/etc/passwd", options)).Message);
        Assert.Contains("no model file", Assert.Throws<ArgumentException>(() => EncoderSpecs.Resolve("model:b/clip.onnx", options)).Message);
        Assert.Equal("builtin", EncoderSpecs.Resolve("builtin", options));
        Assert.NotEqual(BlobLayout.EncoderFileName("model:a/clip.onnx"), BlobLayout.EncoderFileName("model:b/clip.onnx"));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Errors_are_classified_permanent_or_transient()
    {
        Assert.Equal(("NotMedia", true), VideoFailures.Classify(new Media.MediaException("x", Media.MediaErrorKind.NotMedia, "not a video")));
        Assert.Equal(("ToolFailed", false), VideoFailures.Classify(new Media.MediaException("x", Media.MediaErrorKind.ToolFailed, "crashed")));
        Assert.Equal(("Storage", false), VideoFailures.Classify(new Azure.RequestFailedException(503, "busy")));
        // The SDK's own retries exhausted over a dead endpoint: still storage (waited out), not "Internal".
        Assert.Equal(("Storage", false), VideoFailures.Classify(new AggregateException("Retry failed after 6 tries.", new HttpRequestException("refused"), new HttpRequestException("refused"))));
        // Storage that denies access or lacks the operation answers the same on every attempt (issue 26): permanent, the video
        // fails at once with the storage's message instead of using up its attempts.
        Assert.Equal(("StorageRequest403", true), VideoFailures.Classify(new Azure.RequestFailedException(403, "forbidden")));
        Assert.Equal(("StorageRequest501", true), VideoFailures.Classify(new Azure.RequestFailedException(501, "not implemented")));
        Assert.Equal(("StorageRequest501", true), VideoFailures.Classify(new Azure.RequestFailedException("not implemented\nStatus: 501 (x)\nErrorCode: NotImplemented")));
        // A blob that is missing is the video's problem, retried within its attempts as before.
        Assert.Equal(("StorageRequest404", false), VideoFailures.Classify(new Azure.RequestFailedException(404, "gone", "BlobNotFound", null)));
        Assert.Equal(("IO", false), VideoFailures.Classify(new IOException("disk")));
    }
}
