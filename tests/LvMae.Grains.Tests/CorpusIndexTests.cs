using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Grains.Index;
using LvMae.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace LvMae.Grains.Tests;

/// <summary>The index and the work dispatch on a real 3-silo cluster: bounded downloads, the audit (check, rebuild), paging under change.</summary>
[Collection(GrainsClusterCollection.Name)]
public sealed class CorpusIndexTests(GrainsClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);
    private static readonly IndexLayout Layout = new(IndexLayout.DefaultShards);
    private ICorpusIndexGrain Shard(string id) => fixture.Client.GetGrain<ICorpusIndexGrain>(Layout.ShardOf(id));

    [Fact]
    public async Task Registering_many_videos_with_few_job_slots_keeps_at_most_one_source_per_slot_on_disk()
    {
        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            var path = await fixture.NewVideoAsync(6 + i % 4, i % 2 == 0 ? "testsrc2" : "smptebars");
            ids.Add((await fixture.Ingestor.IngestFileAsync(path, "builtin", ["bounded"])).VideoId);
        }
        // Registration returned before any work: most videos are queued in their shards, not downloading.
        var index = await fixture.WaitForIndexAsync(ids, Timeout);
        Assert.All(index.Values, e => Assert.Equal(VideoStage.Embedded, e.Stage));
        Assert.All(fixture.MediaWorks, m => Assert.True(m.MaxSourcesOnDisk <= GrainsClusterFixture.MaxJobsPerSilo,
            $"a silo with {GrainsClusterFixture.MaxJobsPerSilo} job slot(s) held {m.MaxSourcesOnDisk} sources on disk at once"));
        Assert.Contains(fixture.MediaWorks, m => m.MaxSourcesOnDisk >= 1); // the observation did happen
        Assert.All(fixture.Limiters, l => Assert.True(l.PeakRunning <= GrainsClusterFixture.MaxJobsPerSilo));
        // Finished work leaves no scratch behind.
        foreach (var silo in fixture.Cluster.Silos)
            Assert.Empty(Directory.EnumerateFiles(silo.ServiceProvider.GetRequiredService<ScratchSpace>().Root, "source.*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task The_audit_finds_every_kind_of_drift_and_rebuild_makes_the_index_equal_the_video_states()
    {
        var audit = fixture.Client.GetGrain<ICorpusAuditGrain>(0);
        await RunAuditAsync(new AuditRequest { Repair = true }); // start from an index that agrees with the states

        // A mixed ingest: videos, a corrupt file, precomputed embeddings.
        var ids = new List<string>();
        foreach (var seconds in new[] { 6.0, 9.0 })
            ids.Add((await fixture.Ingestor.IngestFileAsync(await fixture.NewVideoAsync(seconds, "mandelbrot"), "builtin", ["audit"])).VideoId);
        ids.Add((await fixture.Ingestor.IngestFileAsync(fixture.CorruptFile(), "builtin", ["audit"])).VideoId);
        var npy = Path.Combine(fixture.MediaDir, $"audit-import-{Guid.NewGuid():N}.npy");
        NpyArray.FromFloats(new float[5 * 8], 5, 8).Write(npy);
        ids.Add((await fixture.Ingestor.ImportEmbeddingsAsync(npy, "imported", ["audit"])).VideoId);
        await fixture.WaitForIndexAsync(ids, Timeout);

        var clean = await RunAuditAsync(new AuditRequest { Blobs = true });
        Assert.Equal(0, clean.Inconsistencies);
        Assert.True(clean.States >= ids.Count);

        // Drift of every kind, written straight into the shards: a wrong stage, a lost entry, an entry without a video.
        var wrong = (await fixture.Client.IndexEntryAsync(ids[0]))!;
        await Shard(wrong.Id).Upsert(wrong with { Stage = VideoStage.Segmented });
        await Shard(ids[1]).Remove([ids[1]]);
        var phantom = new VideoIndexEntry { Id = $"phantom-{Guid.NewGuid():N}"[..20], Stage = VideoStage.Failed, UpdatedAt = DateTimeOffset.UtcNow.AddHours(-1), Version = 1 };
        await Shard(phantom.Id).Upsert(phantom);

        var drift = await RunAuditAsync(new AuditRequest());
        Assert.Equal((1, 1, 1), (drift.Stale, drift.Missing, drift.Phantom));
        Assert.Contains(drift.Problems, p => p.StartsWith(ids[0]) && p.Contains("Segmented") && p.Contains("Embedded"));

        var rebuilt = await RunAuditAsync(new AuditRequest { Repair = true });
        Assert.Equal(3, rebuilt.Repaired);
        var after = await RunAuditAsync(new AuditRequest());
        Assert.Equal(0, after.Inconsistencies);
        Assert.Equal(VideoStage.Embedded, (await fixture.Client.IndexEntryAsync(ids[0]))!.Stage);
        Assert.NotNull(await fixture.Client.IndexEntryAsync(ids[1]));
        Assert.Null(await fixture.Client.IndexEntryAsync(phantom.Id));

        // A data blob that no longer holds what the state says is a blob problem for `verify`.
        var status = await fixture.Client.GetGrain<IVideoGrain>(ids[3]).GetStatus();
        NpyArray.FromFloats(new float[6 * 8], 6, 8).Write(npy);
        await fixture.Blobs.UploadFileAsync(status.EmbeddingsBlob!, npy, new Dictionary<string, string> { ["sha256"] = "0000" });
        var verify = await RunAuditAsync(new AuditRequest { Blobs = true });
        Assert.Equal(1, verify.BlobProblems);
        Assert.Contains(verify.Problems, p => p.StartsWith(ids[3]) && p.Contains("other content"));
    }

    private async Task<AuditReport> RunAuditAsync(AuditRequest request)
    {
        var audit = fixture.Client.GetGrain<ICorpusAuditGrain>(0);
        var report = await audit.Start(request);
        var deadline = DateTime.UtcNow + Timeout;
        while (report.Running && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            report = await audit.Report();
        }
        Assert.False(report.Running, "the audit did not finish in time");
        Assert.Null(report.Error);
        Assert.Equal(request, report.Request);
        return report;
    }

    [Fact]
    public async Task Paging_returns_every_video_exactly_once_while_videos_change_state()
    {
        var entries = Enumerable.Range(0, 600).Select(i => new VideoIndexEntry
        {
            Id = $"churn-{i:D4}", Stage = VideoStage.Failed, Labels = ["churn"], Version = 1, UpdatedAt = DateTimeOffset.UtcNow.AddDays(-1),
        }).ToList();
        await Task.WhenAll(entries.GroupBy(e => Layout.ShardOf(e.Id)).Select(g => fixture.Client.GetGrain<ICorpusIndexGrain>(g.Key).UpsertMany(g.ToList())));

        using var stop = new CancellationTokenSource();
        var churn = Task.Run(async () =>
        {
            var rng = new Random(1);
            var version = 2L;
            while (!stop.IsCancellationRequested)
            {
                var e = entries[rng.Next(entries.Count)];
                await Shard(e.Id).Upsert(e with { Stage = version % 2 == 0 ? VideoStage.Embedded : VideoStage.Failed, Version = version++ });
            }
        });
        try
        {
            foreach (var query in new[] { new VideoQuery { Label = "churn", Limit = 45 }, new VideoQuery { Limit = 70 } })
            {
                var seen = new List<string>();
                string? cursor = null;
                do
                {
                    var page = await fixture.Client.QueryAsync(query with { Cursor = cursor });
                    seen.AddRange(page.Items.Select(e => e.Id).Where(id => id.StartsWith("churn-", StringComparison.Ordinal)));
                    cursor = page.Next;
                } while (cursor is not null);
                Assert.Equal(entries.Select(e => e.Id).Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await churn;
        }
        // Leave no index-only entries behind for the audit test.
        await Task.WhenAll(entries.GroupBy(e => Layout.ShardOf(e.Id)).Select(g => fixture.Client.GetGrain<ICorpusIndexGrain>(g.Key).Remove(g.Select(e => e.Id).ToList())));
    }
}
