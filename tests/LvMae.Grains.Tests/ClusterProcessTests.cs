using System.Diagnostics;
using System.Text.Json;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Silo;
using LvMae.Storage;
using LvMae.Testing;
using Xunit.Abstractions;

namespace LvMae.Grains.Tests;

/// <summary>
/// A cluster as machines run it: three silo PROCESSES (`dotnet LvMae.Silo.dll`) with membership in Azure Table storage
/// (one Azurite: blobs + tables), a gateway client finding them through the table. One silo is SIGKILLed mid-ingestion:
/// every video still ends Embedded exactly once, with no manual step.
/// </summary>
public sealed class ClusterProcessTests(AzuriteFixture azurite, ITestOutputHelper output) : IClassFixture<AzuriteFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-procs-").FullName;

    [Fact]
    public async Task Three_silo_processes_on_table_membership_ingest_and_recover_from_a_killed_silo()
    {
        await using var procs = await ProcessCluster.StartAsync(azurite, _dir, 3, env =>
        {
            env["Processing__MaxConcurrentJobs"] = "1";
            env["Processing__DispatchInterval"] = "00:00:01";
        });
        var (cluster, silos, client) = (procs.Name, procs.Silos, procs.Client);
        try
        {
            var management = client.Cluster.GetGrain<IManagementGrain>(0);
            Assert.Equal(3, (await management.GetHosts(onlyActive: true)).Count);

            var blobs = new BlobStore(azurite.ConnectionString, cluster);
            var ingestor = new VideoIngestor(blobs, client.Grains);
            var ids = new List<string>();
            for (var i = 0; i < 9; i++)
            {
                var path = Path.Combine(_dir, $"clip{i}.mp4");
                await TestVideos.GenerateAsync(path, 10 + i, i % 2 == 0 ? "testsrc2" : "smptebars", size: 32, fps: 5);
                ids.Add((await ingestor.IngestFileAsync(path, "builtin", ["procs"])).VideoId);
            }

            // Kill (SIGKILL) a silo that is running a job, once some videos are done and some are not.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            ExternalSilo? victim = null;
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (victim is null && DateTime.UtcNow < deadline)
            {
                var done = (await client.Grains.IndexEntriesAsync(ids)).Count(e => e.Stage == VideoStage.Embedded);
                if (done >= 2 && done < ids.Count)
                    foreach (var silo in silos)
                    {
                        using var jobs = JsonDocument.Parse(await http.GetStringAsync(new Uri(silo.Api, "silo/jobs")));
                        if (jobs.RootElement.GetProperty("running").GetInt32() > 0) { victim = silo; break; }
                    }
                if (victim is null) await Task.Delay(100);
            }
            Assert.NotNull(victim);
            var before = (await client.Grains.IndexEntriesAsync(ids)).ToDictionary(e => e.Id);
            var unfinished = ids.Where(id => before[id].Stage != VideoStage.Embedded).ToList();
            victim.Kill();
            var killed = Stopwatch.StartNew();
            output.WriteLine($"killed {victim.Name} (pid {victim.Pid}) with {unfinished.Count} of {ids.Count} videos unfinished");

            // Every unfinished video moves again (resumes elsewhere), then everything ends Embedded.
            var resumedAt = new Dictionary<string, double>();
            deadline = DateTime.UtcNow.AddMinutes(4);
            IReadOnlyList<VideoIndexEntry> now = [];
            var failedPolls = 0;
            while (DateTime.UtcNow < deadline)
            {
                // Until the cluster declares the killed silo dead, calls routed to it fail: a client keeps asking.
                try { now = await client.Grains.IndexEntriesAsync(ids); }
                catch (Exception e) when (e is OrleansException or TimeoutException)
                {
                    failedPolls++;
                    await Task.Delay(250);
                    continue;
                }
                foreach (var e in now.Where(e => unfinished.Contains(e.Id) && e.Version > before[e.Id].Version))
                    resumedAt.TryAdd(e.Id, killed.Elapsed.TotalSeconds);
                if (now.Count == ids.Count && now.All(e => e.Stage == VideoStage.Embedded)) break;
                await Task.Delay(250);
            }
            Assert.All(ids, id => Assert.Equal(VideoStage.Embedded, now.Single(e => e.Id == id).Stage));
            output.WriteLine($"all embedded {killed.Elapsed.TotalSeconds:F1} s after the kill; slowest unfinished video moved again after " +
                             $"{resumedAt.Values.DefaultIfEmpty(0).Max():F1} s; {failedPolls} status polls failed during the failover");
            // The videos may all finish before the membership declares the killed silo dead (they did 0.6 s after a kill
            // under load): wait for that, bounded, rather than read the host count once.
            var hostsDeadline = DateTime.UtcNow.AddMinutes(3);
            var active = (await management.GetHosts(onlyActive: true)).Count;
            while (active != 2 && DateTime.UtcNow < hostsDeadline)
            {
                await Task.Delay(500);
                active = (await management.GetHosts(onlyActive: true)).Count;
            }
            Assert.Equal(2, active);

            // Nothing duplicated: one embeddings blob per video, rows = segments.
            foreach (var id in ids)
            {
                var found = new List<BlobEntry>();
                await foreach (var b in blobs.ListAsync(BlobLayout.VideoPrefix(id) + "embeddings/")) found.Add(b);
                var single = Assert.Single(found);
                Assert.Equal(now.Single(e => e.Id == id).SegmentCount, NpyArray.Read(new MemoryStream((await blobs.TryDownloadAsync(single.Name))!)).Shape[0]);
            }
        }
        catch
        {
            procs.WriteLogs(output);
            throw;
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
