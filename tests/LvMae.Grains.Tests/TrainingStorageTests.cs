using Azure.Storage.Blobs.Specialized;
using System.Text.Json.Nodes;
using LvMae.Grains.Training;
using LvMae.Model;
using LvMae.Model.Training;
using LvMae.Pipeline;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>The run's blob-backed parts against a real Azurite: checkpoints (SHA-256, fallback) and metrics.jsonl.</summary>
public sealed class TrainingStorageTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private async Task<BlobStore> StoreAsync() => new(await azurite.NewContainerAsync("ckpt"));

    private static PendingCheckpoint Pending(long step, byte[] bytes) => new(step, new FeedPosition(step / 10, (int)(step % 10)), bytes, false, false);

    [Fact]
    public async Task Checkpoints_carry_their_hash_and_feed_position_and_load_verified()
    {
        var blobs = await StoreAsync();
        var store = new CheckpointStore(blobs, "run-a");
        var bytes = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
        var blob = await store.SaveAsync(Pending(23, bytes));
        Assert.Equal(BlobLayout.RunCheckpoint("run-a", 23), blob);
        var properties = await blobs.TryGetPropertiesAsync(blob);
        Assert.Equal(CheckpointStore.Hash(bytes), properties!.Metadata[CheckpointStore.Sha256Metadata]);

        var loaded = await store.LoadAsync(23);
        Assert.Equal(bytes, loaded.Checkpoint);
        Assert.Equal((23L, new FeedPosition(2, 3)), (loaded.Step, loaded.Position));
        await Assert.ThrowsAsync<InvalidDataException>(() => store.LoadAsync(24));
    }

    [Fact]
    public async Task Resume_falls_back_past_a_corrupt_and_a_vanished_checkpoint_to_the_newest_good_one()
    {
        var blobs = await StoreAsync();
        var store = new CheckpointStore(blobs, "run-b");
        foreach (var step in new long[] { 10, 20, 30, 40 }) await store.SaveAsync(Pending(step, [(byte)step, 1, 2, 3]));

        // Step 40 is overwritten with other bytes under its old metadata (a torn or foreign write), step 30 vanished.
        var forty = (await blobs.TryGetPropertiesAsync(BlobLayout.RunCheckpoint("run-b", 40)))!;
        await blobs.UploadAsync(forty.Name, new byte[] { 9, 9, 9 }, new Dictionary<string, string>(forty.Metadata));
        await blobs.DeleteIfExistsAsync(BlobLayout.RunCheckpoint("run-b", 30));

        var rejected = new List<RejectedCheckpoint>();
        var point = await store.LatestGoodAsync(rejected);
        Assert.Equal(20, point!.Step);
        Assert.Equal(new byte[] { 20, 1, 2, 3 }, point.Checkpoint);
        var reason = Assert.Single(rejected);
        Assert.Equal(forty.Name, reason.Blob);
        Assert.Contains("sha256 mismatch", reason.Reason);
        Assert.Contains("sha256 mismatch", (await Assert.ThrowsAsync<InvalidDataException>(() => store.LoadAsync(40))).Message);

        await store.DeleteAllAsync();
        Assert.Null(await store.LatestGoodAsync());
    }

    [Fact]
    public async Task A_checkpoint_from_before_checksums_is_used_when_it_parses()
    {
        var blobs = await StoreAsync();
        using var trainer = new Trainer(new TrainerOptions { Model = MaeConfig.FromPreset("tiny", 8, 16), TotalSteps = 5 }, "cpu");
        var legacy = trainer.SaveCheckpoint();
        Dictionary<string, string> Meta(long step) => new()
        {
            [CheckpointStore.StepMetadata] = step.ToString(), [CheckpointStore.EpochMetadata] = "1", [CheckpointStore.NextIndexMetadata] = "2",
        };
        await blobs.UploadAsync(BlobLayout.RunCheckpoint("run-c", 5), legacy, Meta(5));
        await blobs.UploadAsync(BlobLayout.RunCheckpoint("run-c", 6), new byte[] { 1, 2, 3 }, Meta(6)); // no hash, and garbage
        var rejected = new List<RejectedCheckpoint>();
        var point = await new CheckpointStore(blobs, "run-c").LatestGoodAsync(rejected);
        Assert.Equal(5, point!.Step);
        Assert.Contains("does not parse", Assert.Single(rejected).Reason);
    }

    [Fact]
    public async Task Metrics_are_buffered_appended_in_order_and_read_back()
    {
        var blobs = await StoreAsync();
        var log = new RunMetricsLog(blobs, "run-m");
        log.Add(new JsonObject { ["step"] = 1, ["loss"] = 0.5, ["lr"] = 1e-4 });
        log.Add(new JsonObject { ["step"] = 2, ["loss"] = 0.4, ["lr"] = 2e-4 });
        Assert.Equal(2, log.Buffered);
        Assert.Empty((await log.ReadAsync()).Steps); // nothing stored before a flush
        await log.FlushAsync();
        Assert.Equal(0, log.Buffered);
        log.Add(new JsonObject { ["probe"] = "cls/raw/linear", ["step"] = 2, ["top1"] = 0.5, ["seeds"] = 3 });
        log.Add(new JsonObject { ["step"] = 3, ["loss"] = 0.3, ["lr"] = 3e-4 });
        await log.FlushAsync();
        var history = await new RunMetricsLog(blobs, "run-m").ReadAsync();
        Assert.Equal([0.5, 0.4, 0.3], history.Steps.Select(s => s.Loss));
        Assert.Equal("cls/raw/linear", Assert.Single(history.Probes).Key);
    }

    /// <summary>A storage that crashed comes back without the last commits it acknowledged (issue 28): their lines go again.</summary>
    [Fact]
    public async Task Metrics_lines_whose_commits_storage_lost_are_appended_again()
    {
        var blobs = await StoreAsync();
        var log = new RunMetricsLog(blobs, "run-lost");
        for (var step = 1; step <= 3; step++)
        {
            log.Add(new JsonObject { ["step"] = step, ["loss"] = 1.0 / step, ["lr"] = 1e-4 });
            await log.FlushAsync();
        }
        var blob = blobs.Container.GetBlockBlobClient(BlobLayout.RunMetrics("run-lost"));
        var blocks = (await blob.GetBlockListAsync()).Value.CommittedBlocks.Select(b => b.Name).ToList();
        await blob.CommitBlockListAsync(blocks.Take(1)); // steps 2 and 3 lost
        log.Add(new JsonObject { ["step"] = 4, ["loss"] = 0.25, ["lr"] = 1e-4 });
        await Assert.ThrowsAnyAsync<Azure.RequestFailedException>(log.FlushAsync); // meets the rolled-back log
        Assert.Equal(3, log.Buffered); // steps 2, 3 and 4, for the next flush
        await log.FlushAsync();
        Assert.Equal(new long[] { 1, 2, 3, 4 }, (await log.ReadAsync()).Steps.Select(s => s.Step));
    }

    [Fact]
    public async Task Metrics_are_a_block_blob_and_an_earlier_append_blob_log_is_still_appended_to()
    {
        var blobs = await StoreAsync();
        var log = new RunMetricsLog(blobs, "run-b");
        log.Add(new JsonObject { ["step"] = 1, ["loss"] = 0.5, ["lr"] = 1e-4 });
        await log.FlushAsync();
        log.Add(new JsonObject { ["step"] = 2, ["loss"] = 0.4, ["lr"] = 1e-4 });
        await log.FlushAsync();
        var blob = blobs.Container.GetBlockBlobClient(BlobLayout.RunMetrics("run-b"));
        Assert.Equal(2, (await blob.GetBlockListAsync()).Value.CommittedBlocks.Count());
        // A second log object (a new activation of the run) reads the list and appends after it.
        var next = new RunMetricsLog(blobs, "run-b");
        next.Add(new JsonObject { ["step"] = 3, ["loss"] = 0.3, ["lr"] = 1e-4 });
        await next.FlushAsync();
        Assert.Equal([0.5, 0.4, 0.3], (await next.ReadAsync()).Steps.Select(s => s.Loss));

        var legacy = blobs.Container.GetAppendBlobClient(BlobLayout.RunMetrics("run-a"));
        await legacy.CreateAsync(new Azure.Storage.Blobs.Models.AppendBlobCreateOptions());
        await legacy.AppendBlockAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes("{\"step\":1,\"loss\":0.9,\"lr\":0.0001}\n")));
        var old = new RunMetricsLog(blobs, "run-a");
        old.Add(new JsonObject { ["step"] = 2, ["loss"] = 0.8, ["lr"] = 1e-4 });
        await old.FlushAsync();
        Assert.Equal([0.9, 0.8], (await old.ReadAsync()).Steps.Select(s => s.Loss));
    }
}
