using Azure.Storage.Blobs.Specialized;
using LvMae.Contracts;
using LvMae.Grains.Index;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>The index shard's durable form on a real Azurite: what is appended reads back, compaction keeps bytes per change constant, a second writer is detected.</summary>
public sealed class ShardLogTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private async Task<BlobStore> StoreAsync() => new(await azurite.NewContainerAsync("shardlog"));

    private static VideoIndexEntry Entry(int i, long version, VideoStage stage = VideoStage.Registered) => new()
    {
        Id = $"v{i:D6}", Stage = stage, Version = version, Encoder = "builtin", Labels = ["class=a", "split=train"],
        UpdatedAt = DateTimeOffset.UnixEpoch.AddSeconds(version), OriginalName = $"clip {i}.mp4",
    };

    private static IndexShard Replay(IReadOnlyList<ShardLog.Change> changes)
    {
        var shard = new IndexShard();
        foreach (var c in changes) if (c.Entry is { } e) shard.Apply(e); else shard.Remove(c.Removed!);
        return shard;
    }

    [Fact]
    public async Task Appended_changes_and_removals_read_back_in_order()
    {
        var store = await StoreAsync();
        var log = new ShardLog(store, 3);
        Assert.Empty(await log.LoadAsync());
        await log.AppendAsync([new(Entry(1, 1), null), new(Entry(2, 1), null)]);
        await log.AppendAsync([new(Entry(1, 2, VideoStage.Embedded), null), new(null, "v000002")]);

        var reloaded = new ShardLog(store, 3);
        var shard = Replay(await reloaded.LoadAsync());
        Assert.Equal(1, shard.Count);
        Assert.Equal(VideoStage.Embedded, shard.Get("v000001")!.Stage);
        Assert.Equal("clip 1.mp4", shard.Get("v000001")!.OriginalName);
        Assert.Equal(log.LogBytes, reloaded.LogBytes);
    }

    [Fact]
    public async Task Compaction_keeps_the_content_and_bytes_written_per_change_stay_flat_as_the_shard_grows()
    {
        var store = await StoreAsync();
        var log = new ShardLog(store, 0, minCompactBytes: 4096);
        var shard = new IndexShard();
        var perChange = new List<double>();
        long written = 0;
        for (var round = 0; round < 8; round++)
        {
            // Each round registers 250 new videos and moves each through two more stages (the ingest pattern).
            var before = log.BytesWritten;
            for (var stage = 0; stage < 3; stage++)
                foreach (var chunk in Enumerable.Range(round * 250, 250).Chunk(25))
                {
                    var changes = chunk.Select(i => new ShardLog.Change(Entry(i, stage + 1, (VideoStage)(stage == 2 ? 3 : stage)), null)).ToList();
                    foreach (var c in changes) shard.Apply(c.Entry!);
                    await log.AppendAsync(changes);
                    if (log.ShouldCompact) await log.CompactAsync(shard.Entries);
                }
            perChange.Add((log.BytesWritten - before) / 750.0);
            written = log.BytesWritten;
        }
        Assert.True(log.Generation > 2, "the log was never compacted");
        // Constant work per change: the last rounds (large shard) cost no more per change than the early ones, within 1.5x.
        // Averaged over four rounds each: a compaction lands in one round or the next, so single rounds are lumpy.
        // (Block lists count: each append resends its segment's block ids, at most ShardLog.SegmentBlocks of them.)
        Assert.True(perChange[^4..].Average() <= 1.5 * perChange[1..5].Average(), $"bytes per change grew with the shard: {string.Join(", ", perChange.Select(b => b.ToString("F0")))}");

        var reloaded = Replay(await new ShardLog(store, 0).LoadAsync());
        Assert.Equal(2000, reloaded.Count);
        Assert.All(reloaded.Entries, e => Assert.Equal(VideoStage.Embedded, e.Stage));
        // Only the current generation's blobs remain.
        var names = new List<string>();
        await foreach (var b in store.ListAsync(BlobLayout.IndexShardPrefix(0))) names.Add(b.Name);
        Assert.Equal(3, names.Count);
        Assert.True(written > 0);
    }

    [Fact]
    public async Task A_second_writer_is_detected_and_never_interleaved()
    {
        var store = await StoreAsync();
        var a = new ShardLog(store, 1);
        await a.LoadAsync();
        await a.AppendAsync([new(Entry(1, 1), null)]);
        var b = new ShardLog(store, 1);
        await b.LoadAsync();
        await a.AppendAsync([new(Entry(2, 1), null)]);
        await Assert.ThrowsAsync<ShardLogConflictException>(() => b.AppendAsync([new(Entry(3, 1), null)]));

        // And a compaction by one makes the other's next write fail too.
        var c = new ShardLog(store, 1);
        var shard = Replay(await c.LoadAsync());
        await c.CompactAsync(shard.Entries);
        await Assert.ThrowsAsync<ShardLogConflictException>(() => a.AppendAsync([new(Entry(4, 1), null)]));
        Assert.Equal(2, Replay(await new ShardLog(store, 1).LoadAsync()).Count);
    }

    [Fact]
    public async Task A_compaction_that_died_before_moving_the_head_leaves_the_old_generation_current()
    {
        var store = await StoreAsync();
        var log = new ShardLog(store, 2);
        await log.LoadAsync();
        await log.AppendAsync([new(Entry(1, 1), null), new(Entry(2, 1), null)]);
        // What a crashed compaction leaves: the next generation's snapshot (stale content), no head move.
        await store.UploadAsync(BlobLayout.IndexSnapshot(2, 1), System.Text.Encoding.UTF8.GetBytes(ShardLog.Line(new(Entry(9, 1), null)) + "\n"));
        var shard = Replay(await new ShardLog(store, 2).LoadAsync());
        Assert.Equal(["v000001", "v000002"], shard.Entries.Select(e => e.Id).Order());
        // The next compaction overwrites the leftover and moves on.
        var again = new ShardLog(store, 2);
        var content = Replay(await again.LoadAsync());
        await again.CompactAsync(content.Entries);
        Assert.Equal(["v000001", "v000002"], Replay(await new ShardLog(store, 2).LoadAsync()).Entries.Select(e => e.Id).Order());
    }

    [Fact]
    public async Task A_log_of_the_earlier_append_blob_layout_reads_back_and_moves_to_block_blobs_at_its_compaction()
    {
        var store = await StoreAsync();
        // What an earlier version left: generation 0's log as an append blob, one block per group commit.
        var legacy = store.Container.GetAppendBlobClient(BlobLayout.IndexLog(4, 0));
        await legacy.CreateAsync(new Azure.Storage.Blobs.Models.AppendBlobCreateOptions());
        foreach (var lines in new[] { new[] { Entry(1, 1), Entry(2, 1) }, new[] { Entry(1, 2, VideoStage.Embedded) } })
        {
            var block = string.Concat(lines.Select(e => ShardLog.Line(new(e, null)) + "\n"));
            await legacy.AppendBlockAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(block)));
        }
        await legacy.AppendBlockAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(ShardLog.Line(new(null, "v000002")) + "\n")));

        var log = new ShardLog(store, 4);
        var shard = Replay(await log.LoadAsync());
        Assert.True(log.IsLegacyLog);
        Assert.True(log.ShouldCompact);
        Assert.Equal(3, log.Blocks);
        Assert.Equal(["v000001"], shard.Entries.Select(e => e.Id));
        Assert.Equal(VideoStage.Embedded, shard.Get("v000001")!.Stage);
        await Assert.ThrowsAsync<InvalidOperationException>(() => log.AppendAsync([new(Entry(3, 1), null)]));

        await log.CompactAsync(shard.Entries);
        Assert.False(log.IsLegacyLog);
        await log.AppendAsync([new(Entry(3, 1), null)]);
        var reloaded = new ShardLog(store, 4);
        Assert.Equal(["v000001", "v000003"], Replay(await reloaded.LoadAsync()).Entries.Select(e => e.Id).Order());
        Assert.False(reloaded.IsLegacyLog);
        var properties = await store.Container.GetBlobClient(BlobLayout.IndexLog(4, 1)).GetPropertiesAsync();
        Assert.Equal(Azure.Storage.Blobs.Models.BlobType.Block, properties.Value.BlobType);
        Assert.False(await store.ExistsAsync(BlobLayout.IndexLog(4, 0)));
    }

    [Fact]
    public async Task Each_append_commits_the_known_block_list_plus_its_own_block()
    {
        var store = await StoreAsync();
        var log = new ShardLog(store, 6);
        await log.LoadAsync();
        for (var i = 1; i <= 5; i++) await log.AppendAsync([new(Entry(i, 1), null)]);
        var blocks = (await store.Container.GetBlockBlobClient(BlobLayout.IndexLog(6, 0)).GetBlockListAsync()).Value;
        Assert.Equal(5, blocks.CommittedBlocks.Count());
        Assert.Empty(blocks.UncommittedBlocks);
        Assert.Equal(5, log.Blocks);
        var reloaded = new ShardLog(store, 6);
        Assert.Equal(5, Replay(await reloaded.LoadAsync()).Count);
        Assert.Equal(5, reloaded.Blocks);
        // The reloaded instance appends after what it read (its ETag and list are the stored ones).
        await reloaded.AppendAsync([new(Entry(6, 1), null)]);
        Assert.Equal(6, Replay(await new ShardLog(store, 6).LoadAsync()).Count);
        await Assert.ThrowsAsync<ShardLogConflictException>(() => log.AppendAsync([new(Entry(7, 1), null)]));
    }

    /// <summary>A storage that crashed comes back without the last commits: the log's ETag is an older one (issue 28).</summary>
    [Fact]
    public async Task The_storage_check_notices_a_log_that_lost_its_last_commits()
    {
        var store = await StoreAsync();
        var log = new ShardLog(store, 8);
        await log.LoadAsync();
        Assert.True(await log.MatchesStorageAsync()); // nothing written yet: no head, no log, as it expects
        for (var i = 1; i <= 3; i++) await log.AppendAsync([new(Entry(i, 1), null)]);
        Assert.True(await log.MatchesStorageAsync());
        var blob = store.Container.GetBlockBlobClient(BlobLayout.IndexLog(8, 0));
        var blocks = (await blob.GetBlockListAsync()).Value.CommittedBlocks.Select(b => b.Name).ToList();
        await blob.CommitBlockListAsync(blocks.Take(2)); // as storage holds it after the crash: the last commit gone
        Assert.False(await log.MatchesStorageAsync());
        var reloaded = new ShardLog(store, 8);
        Assert.Equal(2, Replay(await reloaded.LoadAsync()).Count);
        Assert.True(await reloaded.MatchesStorageAsync());
        await blob.DeleteAsync(); // a log storage lost entirely
        Assert.False(await reloaded.MatchesStorageAsync());
    }

    [Fact]
    public async Task A_full_segment_rolls_over_to_the_next_and_the_chain_reads_back()
    {
        var store = await StoreAsync();
        var log = new ShardLog(store, 7, minCompactBytes: 64 << 20); // no compaction: the log grows past a segment
        await log.LoadAsync();
        var appends = ShardLog.SegmentBlocks * 2 + 3;
        for (var i = 0; i < appends; i++) await log.AppendAsync([new(Entry(i, 1), null)]);
        Assert.Equal(3, log.Segments);
        Assert.Equal(appends, log.Blocks);
        Assert.True(await store.ExistsAsync(BlobLayout.IndexLog(7, 0, 2)));

        var reloaded = new ShardLog(store, 7, minCompactBytes: 64 << 20);
        Assert.Equal(appends, Replay(await reloaded.LoadAsync()).Count);
        Assert.Equal((3, appends, log.LogBytes), (reloaded.Segments, reloaded.Blocks, reloaded.LogBytes));
        Assert.True(await reloaded.MatchesStorageAsync());
        await reloaded.AppendAsync([new(Entry(appends, 1), null)]);
        Assert.True(await reloaded.MatchesStorageAsync());
        // The first instance is now behind: its storage check says so, and its commit to the last segment fails its ETag.
        Assert.False(await log.MatchesStorageAsync());
        await Assert.ThrowsAsync<ShardLogConflictException>(() => log.AppendAsync([new(Entry(999, 1), null)]));

        var shard = Replay(await reloaded.LoadAsync());
        await reloaded.CompactAsync(shard.Entries);
        Assert.True(await reloaded.MatchesStorageAsync()); // the new head and the new generation's empty log
        var names = new List<string>();
        await foreach (var b in store.ListAsync(BlobLayout.IndexShardPrefix(7))) names.Add(b.Name);
        Assert.Equal(3, names.Count); // head, snapshot, empty log: every segment of the old generation deleted
        Assert.Equal(appends + 1, Replay(await new ShardLog(store, 7).LoadAsync()).Count);
    }

    [Fact]
    public async Task A_flush_retried_after_its_commit_landed_unanswered_finds_its_own_block()
    {
        var store = await StoreAsync();
        var log = new ShardLog(store, 8);
        await log.LoadAsync();
        await log.AppendAsync([new(Entry(1, 1), null)]);
        // What storage holds after a commit of ours whose answer never came (storage went away; the flush failed): the same
        // lines committed at the place this instance still expects to append at. Another instance stands in for that commit.
        var landed = new ShardLog(store, 8);
        await landed.LoadAsync();
        ShardLog.Change[] retried = [new(Entry(2, 1), null), new(Entry(1, 2, VideoStage.Embedded), null)];
        await landed.AppendAsync(retried);

        await log.AppendAsync(retried); // the flush, retried with the same changes once storage answers
        Assert.Equal(1, log.LostResponses);
        await log.AppendAsync([new(Entry(3, 1), null)]); // and the log goes on after it
        Assert.Equal(["v000001", "v000002", "v000001", "v000003"], (await new ShardLog(store, 8).LoadAsync()).Select(c => c.Entry!.Id));

        // Different lines at that place are another writer's: a conflict, as before.
        var behind = new ShardLog(store, 8);
        await behind.LoadAsync();
        await log.AppendAsync([new(Entry(4, 1), null)]);
        await Assert.ThrowsAsync<ShardLogConflictException>(() => behind.AppendAsync([new(Entry(5, 1), null)]));
    }
}
