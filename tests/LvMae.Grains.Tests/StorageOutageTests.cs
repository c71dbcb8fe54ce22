using LvMae.Client;
using LvMae.Contracts;

namespace LvMae.Grains.Tests;

/// <summary>A cluster of its own whose storage (Azurite) these tests take away and bring back.</summary>
[CollectionDefinition(Name)]
public sealed class OutageClusterCollection : ICollectionFixture<GrainsClusterFixture>
{
    public const string Name = "outage cluster";
}

/// <summary>
/// Storage outages are waited out, never turned into failures, and nothing needs a manual retry afterwards: the video grains
/// keep their work going, the index shards keep asking, and the final states reach storage and the index.
/// </summary>
[Collection(OutageClusterCollection.Name)]
public sealed class StorageOutageTests(GrainsClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task An_outage_mid_ingestion_ends_with_every_video_embedded_and_the_index_equal_to_the_states()
    {
        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
            ids.Add((await fixture.Ingestor.IngestFileAsync(await fixture.NewVideoAsync(8 + 2 * i, i % 2 == 0 ? "testsrc2" : "smptebars"), "builtin", ["outage"])).VideoId);
        await WaitUntilAsync(async () => (await fixture.Client.IndexEntriesAsync(ids)).Count(e => e.Stage == VideoStage.Embedded) >= 1);

        await fixture.Azurite.StopAsync(); // connections refused
        await Task.Delay(TimeSpan.FromSeconds(8)); // the outage itself (what is being survived), not synchronisation
        await fixture.Azurite.StartAsync();

        var index = await fixture.WaitForIndexAsync(ids, Timeout);
        Assert.All(index.Values, e => Assert.Equal(VideoStage.Embedded, e.Stage)); // none Failed(Storage), no retry by hand
        var report = await AuditAsync();
        Assert.Equal(0, report.Inconsistencies);
        Assert.Equal(0, report.Unfinished);
    }

    [Fact]
    public async Task A_hung_storage_is_waited_out_too()
    {
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
            ids.Add((await fixture.Ingestor.IngestFileAsync(await fixture.NewVideoAsync(7 + i, "rgbtestsrc"), "builtin", ["hang"])).VideoId);
        fixture.Azurite.Pause(); // requests hang: the SDK's own retries time out
        await Task.Delay(TimeSpan.FromSeconds(8));
        fixture.Azurite.Resume();
        var index = await fixture.WaitForIndexAsync(ids, Timeout);
        Assert.All(index.Values, e => Assert.Equal(VideoStage.Embedded, e.Stage));
    }

    [Fact]
    public async Task A_failure_that_cannot_be_saved_during_an_outage_reaches_storage_and_the_index_when_it_ends()
    {
        var corrupt = fixture.CorruptFile();
        var (id, _) = await VideoIngestor.ContentIdAsync(corrupt);
        var gate = FlakyMediaWork.Gates[id] = new FlakyMediaWork.Gate();
        await fixture.Ingestor.IngestFileAsync(corrupt, "builtin", ["unsaved-failure"]);
        await gate.Reached.Task.WaitAsync(Timeout); // its probe is about to run

        await fixture.Azurite.StopAsync();
        gate.Open.SetResult(); // the probe fails (not a video): the verdict cannot be written now
        // The grain has a verdict storage does not: it says "saving" and reports the stage storage holds (issue 28).
        var grain = fixture.Client.GetGrain<IVideoGrain>(id);
        await WaitUntilAsync(async () => (await grain.GetStatus()).Saving);
        Assert.NotEqual(VideoStage.Failed, (await grain.GetStatus()).Stage);
        Assert.NotEqual(VideoStage.Failed, (await fixture.Client.IndexEntryAsync(id))?.Stage); // not recorded anywhere yet
        await fixture.Azurite.StartAsync();

        var index = await fixture.WaitForIndexAsync([id], Timeout);
        Assert.Equal(VideoStage.Failed, index[id].Stage);
        Assert.Equal("NotMedia", index[id].FailureKind);
        Assert.Equal(VideoStage.Failed, (await grain.GetStatus()).Stage);
        var report = await AuditAsync(); // and the persisted state says so too
        Assert.Equal(0, report.Inconsistencies);
        FlakyMediaWork.Gates.TryRemove(id, out _);
    }

    private async Task<AuditReport> AuditAsync()
    {
        var audit = fixture.Client.GetGrain<ICorpusAuditGrain>(0);
        var report = await audit.Start(new AuditRequest { Blobs = true });
        await WaitUntilAsync(async () => !(report = await audit.Report()).Running);
        Assert.Null(report.Error);
        return report;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await TryAsync(condition))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(200);
        }
    }

    private static async Task<bool> TryAsync(Func<Task<bool>> condition)
    {
        try { return await condition(); }
        catch (Exception e) when (e is OrleansException or TimeoutException or Azure.RequestFailedException) { return false; }
    }
}
