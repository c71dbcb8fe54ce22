using LvMae.Client;
using LvMae.Contracts;

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
