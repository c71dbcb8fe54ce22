using Azure.Storage.Blobs;
using LvMae.Contracts;
using LvMae.Grains.Index;
using LvMae.Storage;
using LvMae.Testing;
using Xunit.Abstractions;

namespace LvMae.Grains.Tests;

/// <summary>
/// What one index change costs storage, in requests and bytes sent, on a real Azurite: the ingest pattern (every video
/// Registered, Probed, Segmented, Embedded: 4 changes) through <see cref="ShardLog"/>, group commits of 1 and of 16
/// changes, compactions included. Prints the figures docs/BENCHMARKS.md records (`dotnet test tests/LvMae.Grains.Tests
/// -c Release --filter ShardLogTrafficTests --logger "console;verbosity=detailed"`).
/// </summary>
public sealed class ShardLogTrafficTests(AzuriteFixture azurite, ITestOutputHelper output) : IClassFixture<AzuriteFixture>
{
    private const int Videos = 3000;

    public static TheoryData<int> GroupSizes => new() { 1, 16 };

    [Theory]
    [MemberData(nameof(GroupSizes))]
    public async Task Requests_and_bytes_per_appended_change(int perAppend)
    {
        var traffic = new StorageTraffic();
        var name = $"traffic-{Guid.NewGuid():N}"[..40];
        await azurite.ServiceClient().GetBlobContainerClient(name).CreateIfNotExistsAsync();
        var store = new BlobStore(new BlobContainerClient(azurite.ConnectionString, name, traffic.BlobOptions(_ => "index")));
        var log = new ShardLog(store, 0);
        await log.LoadAsync();
        var shard = new IndexShard();
        var pending = new List<ShardLog.Change>();
        long appends = 0, compactions = 0;
        var stages = new[] { VideoStage.Registered, VideoStage.Probed, VideoStage.Segmented, VideoStage.Embedded };
        var before = Counts(traffic);
        // Videos move through their stages interleaved, as with several media jobs: video i's stage s at step i + 4 s.
        for (var step = 0; step < Videos + 4 * 50; step++)
            for (var s = 0; s < stages.Length; s++)
            {
                var i = step - 50 * s;
                if (i < 0 || i >= Videos) continue;
                var entry = Entry(i, s + 1, stages[s]);
                shard.Apply(entry);
                pending.Add(new ShardLog.Change(entry, null));
                if (pending.Count < perAppend) continue;
                await log.AppendAsync(pending);
                appends++;
                pending.Clear();
                if (log.ShouldCompact) { await log.CompactAsync(shard.Entries); compactions++; }
            }
        if (pending.Count > 0) { await log.AppendAsync(pending); appends++; }
        var after = Counts(traffic);
        var changes = Videos * 4.0;
        var requests = after.Requests - before.Requests;
        var bytes = after.Bytes - before.Bytes;
        output.WriteLine($"layout: {ShardLog.Layout}; {Videos} videos x 4 changes, {perAppend} change(s) per append: {appends} appends, {compactions} compactions, " +
                         $"snapshot {log.SnapshotBytes:N0} B; per change: {requests / changes:F2} requests ({(after.Writes - before.Writes) / changes:F2} writes), " +
                         $"{bytes / changes:F0} bytes sent; per append: {requests / (double)appends:F2} requests, {bytes / (double)appends:F0} bytes");

        var reloaded = new IndexShard();
        foreach (var c in await new ShardLog(store, 0).LoadAsync()) if (c.Entry is { } e) reloaded.Apply(e); else reloaded.Remove(c.Removed!);
        Assert.Equal(Videos, reloaded.Count);
        Assert.All(reloaded.Entries, e => Assert.Equal(VideoStage.Embedded, e.Stage));
    }

    private static (long Requests, long Writes, long Bytes) Counts(StorageTraffic traffic)
    {
        var c = traffic.Snapshot().SingleOrDefault(x => x.Category == "index");
        return c is null ? (0, 0, 0) : (c.Requests, c.Writes, c.BytesWritten);
    }

    private static VideoIndexEntry Entry(int i, long version, VideoStage stage) => new()
    {
        Id = $"{i:x8}{new string('0', 56)}", Stage = stage, Version = version, Encoder = "builtin", Labels = ["class=walking", "split=train"],
        UpdatedAt = DateTimeOffset.UnixEpoch.AddSeconds(1_800_000_000 + version), OriginalName = $"clip-{i:D6}.mp4",
        SegmentCount = stage == VideoStage.Embedded ? 12 : 0, EmbeddedEncoders = stage == VideoStage.Embedded ? ["builtin"] : [],
    };
}
