using System.Text;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains.Tests;

/// <summary>
/// Convergence without a restart (issue 28): once storage answers again after an outage, each index shard re-checks the
/// videos it touched during it against their persisted states, repairs its entries and makes those videos read storage
/// again, so the API, the index and storage agree with no audit, restart or manual command.
/// </summary>
[Collection(LostResponseClusterCollection.Name)]
public sealed class OutageRecheckTests(LostResponseClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    /// <summary>8 s: shorter than the SDK's own retries (the shard's write succeeds late, through a lost response read back);
    /// 40 s: longer (the shard's write fails, it probes storage until it answers).</summary>
    [Theory]
    [InlineData(8)]
    [InlineData(40)]
    public async Task A_video_whose_last_state_write_storage_lost_in_an_outage_is_repaired_and_finishes(int outageSeconds)
    {
        var path = await fixture.NewVideoAsync(8);
        var (id, _) = await VideoIngestor.ContentIdAsync(path);
        // The shard's append of this video's Embedded entry is applied, its answer lost, and storage goes away. An append is
        // a Put Block (the lines) then a Put Block List naming it: the commit whose list holds that block loses its answer.
        string? block = null;
        var lost = fixture.Proxy.LoseResponse(r =>
        {
            if (r.Method != "PUT") return false;
            if (r.Target.Contains("comp=block&", StringComparison.Ordinal) && r.Body.Contains($"\"id\":\"{id}\"", StringComparison.Ordinal)
                && r.Body.Contains("\"stage\":\"Embedded\"", StringComparison.Ordinal))
                block = Uri.UnescapeDataString(System.Text.RegularExpressions.Regex.Match(r.Target, "blockid=([^&]+)").Groups[1].Value);
            return block is not null && r.Target.Contains("comp=blocklist", StringComparison.Ordinal) && r.Body.Contains($">{block}<", StringComparison.Ordinal);
        }, thenDown: true);
        await fixture.Ingestor.IngestFileAsync(path, "builtin", ["recheck"]);
        await lost.WaitAsync(Timeout);
        try
        {
            // The crash also lost the video's last state write (acknowledged just before): storage comes back with the
            // state before it, which the index (Embedded) and the video's activation (Embedded) no longer match.
            var embedded = (await fixture.PersistedAsync(id))!;
            Assert.Equal(VideoStage.Embedded, embedded.Stage);
            embedded.Stage = VideoStage.Segmented;
            embedded.Version -= 1;
            await fixture.OverwritePersistedAsync(id, embedded);
            await Task.Delay(TimeSpan.FromSeconds(outageSeconds)); // the outage itself (what is being survived), not synchronisation
        }
        finally
        {
            fixture.Proxy.Down = false;
        }

        await ConvergedAsync(id);
    }

    /// <summary>
    /// A SIGKILLed storage comes back without the writes it acknowledged last, and nothing need fail for it: here it lost
    /// the video's last state write and the shard's appends from the video's Embedded entry on, while no write was in flight.
    /// The shard, which has nothing to write, still checks its log while its changes are recent, finds it is not the one it
    /// wrote, reloads it and re-checks what differs; the video's activation learns that storage lost its Embedded state and
    /// embeds again.
    /// </summary>
    [Fact]
    public async Task A_storage_crash_that_lost_a_shards_last_appends_and_a_state_write_is_noticed_with_no_write_failing()
    {
        var id = await EmbeddedVideoWithItsLastStateWriteLostAsync("crash");
        Assert.True(await RollBackLogAsync(id), "the shard's log holds the video's Embedded entry");
        await ConvergedAsync(id);
    }

    /// <summary>
    /// Storage out for a few seconds, then back without the video's last state write; the shard's log is intact and the shard
    /// has nothing to write: its storage check fails during the outage (longer than the SDK's retries, which hide shorter
    /// ones), and once storage answers it re-checks the videos it changed shortly before (the look-back), so the video's
    /// entry and activation follow the state storage holds.
    /// </summary>
    [Fact]
    public async Task A_shard_that_wrote_nothing_during_an_outage_rechecks_its_recent_videos_after_it()
    {
        var id = await EmbeddedVideoWithItsLastStateWriteLostAsync("quiet");
        fixture.Proxy.Down = true;
        try { await Task.Delay(TimeSpan.FromSeconds(35)); } // longer than the SDK's own retries; the outage itself (what is being survived), not synchronisation
        finally { fixture.Proxy.Down = false; }
        await ConvergedAsync(id);
    }

    /// <summary>A new video, ingested until the index says Embedded; then its state on storage goes back one version, to
    /// Segmented (its last write lost). Returns its id.</summary>
    private async Task<string> EmbeddedVideoWithItsLastStateWriteLostAsync(string label)
    {
        var path = await fixture.NewVideoAsync(8);
        var (id, _) = await VideoIngestor.ContentIdAsync(path);
        await fixture.Ingestor.IngestFileAsync(path, "builtin", [label]);
        await fixture.WaitForIndexAsync(id, VideoStage.Embedded, Timeout);
        var embedded = (await fixture.PersistedAsync(id))!;
        Assert.Equal(VideoStage.Embedded, embedded.Stage);
        embedded.Stage = VideoStage.Segmented;
        embedded.Version -= 1;
        await fixture.OverwritePersistedAsync(id, embedded);
        return id;
    }

    /// <summary>
    /// The video's shard log on storage loses its commits from the block holding the video's Embedded entry on (a prefix of
    /// the committed blocks stays, as after a crash). False when no block holds that entry.
    /// </summary>
    private async Task<bool> RollBackLogAsync(string id)
    {
        var blobs = fixture.Azurite.ServiceClient().GetBlobContainerClient(LostResponseClusterFixture.Container);
        var shard = new IndexLayout(IndexLayout.DefaultShards).ShardOf(id);
        await foreach (var item in blobs.GetBlobsAsync(BlobTraits.None, BlobStates.None, BlobLayout.IndexShardPrefix(shard), default))
        {
            if (!item.Name.Contains(".log", StringComparison.Ordinal)) continue; // the head and snapshots
            var log = blobs.GetBlockBlobClient(item.Name);
            var blocks = (await log.GetBlockListAsync(BlockListTypes.Committed)).Value.CommittedBlocks.ToList();
            var content = (await log.DownloadContentAsync()).Value.Content.ToArray();
            var offset = 0;
            for (var i = 0; i < blocks.Count; offset += (int)blocks[i].SizeLong, i++)
            {
                var text = Encoding.UTF8.GetString(content, offset, (int)blocks[i].SizeLong);
                if (!text.Split('\n').Any(l => l.Contains($"\"id\":\"{id}\"", StringComparison.Ordinal) && l.Contains("\"stage\":\"Embedded\"", StringComparison.Ordinal))) continue;
                await log.CommitBlockListAsync(blocks.Take(i).Select(b => b.Name));
                return true;
            }
        }
        return false;
    }

    /// <summary>Waits until storage, the index and the API agree that the video is Embedded, then audits (log included).</summary>
    private async Task ConvergedAsync(string id)
    {
        var grain = fixture.Client.GetGrain<IVideoGrain>(id);
        VideoState? persisted = null;
        VideoIndexEntry? entry = null;
        VideoStatus? status = null;
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            persisted = await fixture.PersistedAsync(id);
            entry = await fixture.Client.IndexEntryAsync(id);
            status = await grain.GetStatus();
            if (persisted?.Stage == VideoStage.Embedded && entry?.Stage == VideoStage.Embedded && entry.Version == persisted.Version
                && status is { Stage: VideoStage.Embedded, Saving: false }) break;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"video {id}: storage {persisted?.Stage} v{persisted?.Version}, index {entry?.Stage} v{entry?.Version}, API {status.Stage} (saving {status.Saving})\nsilo log:\n{fixture.Log.Last()}\nrequests:\n{string.Join("\n", fixture.Proxy.Recent(40).Select(r => $"{r.Method} {r.Target[..Math.Min(160, r.Target.Length)]}"))}");
            await Task.Delay(200);
        }
        var audit = await fixture.AuditAsync(Timeout);
        Assert.Null(audit.Error);
        Assert.Equal(0, audit.Inconsistencies);
    }
}
