using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Grains;
using LvMae.Silo;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// The distributed system: status-query latency over a 10,000-video corpus (index queries vs. the no-index baseline of
/// asking every video grain), and ingestion throughput (ffmpeg + builtin encoder) with 1 vs 2 silos on this machine.
/// Real silos (LvMaeSiloHost, localhost clustering), a real gateway client, Azurite.
/// </summary>
public sealed class GrainsBench : IBenchSuite
{
    public string Name => "grains";

    public async Task<string> RunAsync(BenchContext context)
    {
        var azurite = new AzuriteFixture();
        await azurite.InitializeAsync();
        try
        {
            var md = new StringBuilder();
            md.AppendLine(await StatusLatencyAsync(azurite, context.Quick ? 2_000 : 10_000));
            md.AppendLine(await IngestionThroughputAsync(azurite, context.Quick ? 6 : 12, context.Quick ? 20 : 60));
            return md.ToString();
        }
        finally
        {
            await azurite.DisposeAsync();
        }
    }

    private static LvMaeSiloSettings Settings(AzuriteFixture azurite, string container, int jobs, int? primarySiloPort = null, bool api = true) => new()
    {
        Storage = new StorageOptions { ConnectionString = azurite.ConnectionString, Container = container },
        Clustering = new ClusteringOptions { SiloPort = ExternalSilo.FreePort(), GatewayPort = ExternalSilo.FreePort(), ClusterId = container, ServiceId = container, PrimarySiloPort = primarySiloPort },
        Processing = new ProcessingOptions { MaxConcurrentJobs = jobs },
        Api = new ApiOptions { Port = 0, Enabled = api, Dashboard = false },
        Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning, OrleansLevel = Microsoft.Extensions.Logging.LogLevel.Error },
    };

    private static (double P50, double P99) Percentiles(List<double> ms)
    {
        ms.Sort();
        return (ms[(int)(0.50 * (ms.Count - 1))], ms[(int)(0.99 * (ms.Count - 1))]);
    }

    private static async Task<(double P50, double P99)> TimeAsync(int runs, Func<int, Task> query)
    {
        await query(0);
        var times = new List<double>(runs);
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            await query(i);
            times.Add(watch.Elapsed.TotalMilliseconds);
        }
        return Percentiles(times);
    }

    private static async Task<string> StatusLatencyAsync(AzuriteFixture azurite, int videos)
    {
        var settings = Settings(azurite, "bench-status", jobs: 1);
        await using var silo = await LvMaeSiloHost.StartAsync(settings);
        await using var client = await LvMaeClient.ConnectAsync(settings);
        var grains = client.Grains;

        // 10,000 registered videos as the index holds them (what video grains publish on each transition; group-committed per shard).
        var stages = new[] { VideoStage.Registered, VideoStage.Probed, VideoStage.Segmented, VideoStage.Embedded, VideoStage.Embedded, VideoStage.Embedded, VideoStage.Failed };
        var fill = Stopwatch.StartNew();
        var ids = Enumerable.Range(0, videos).Select(i => $"vbench{i:D6}").ToArray();
        var layout = new IndexLayout(settings.Index.Shards);
        foreach (var chunk in ids.Chunk(500))
            await Task.WhenAll(chunk.Select((id, j) =>
            {
                var stage = stages[(id.GetHashCode() & 0x7fffffff) % stages.Length];
                return grains.GetGrain<ICorpusIndexGrain>(layout.ShardOf(id)).Upsert(new VideoIndexEntry
                {
                    Id = id, Stage = stage, Encoder = "builtin", Labels = [$"class-{j % 10}"],
                    EmbeddedEncoders = stage == VideoStage.Embedded ? ["builtin"] : [],
                    FailureKind = stage == VideoStage.Failed ? "NotMedia" : null, FailureMessage = stage == VideoStage.Failed ? "not a media file" : null,
                    SegmentCount = 24, UpdatedAt = DateTimeOffset.UtcNow, Version = 1,
                });
            }));
        var fillSeconds = fill.Elapsed.TotalSeconds;

        var runs = 200;
        var summary = await TimeAsync(runs, _ => grains.SummaryAsync());
        var failedPage = await TimeAsync(runs, _ => grains.QueryAsync(new VideoQuery { Stage = VideoStage.Failed, Limit = 100 }));
        var lookup = await TimeAsync(runs * 5, i => grains.IndexEntryAsync(ids[(i * 7919) % ids.Length]));
        using var http = new HttpClient { BaseAddress = silo.ApiAddress };
        var httpSummary = await TimeAsync(runs, async _ => (await http.GetAsync("/corpus/summary")).EnsureSuccessStatusCode());

        // Baseline without an index: ask every video grain for its status (warm: a second pass after activation).
        var baselineIds = ids.Take(Math.Min(ids.Length, 2_000)).ToArray();
        async Task ScanAsync()
        {
            foreach (var chunk in baselineIds.Chunk(500))
                await Task.WhenAll(chunk.Select(id => grains.GetGrain<IVideoGrain>(id).GetStatus()));
        }
        await ScanAsync();
        var scanTimes = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            await ScanAsync();
            scanTimes.Add(watch.Elapsed.TotalMilliseconds * ids.Length / baselineIds.Length);
        }
        var scan = Percentiles(scanTimes);

        var md = new StringBuilder();
        md.AppendLine($"### Status queries over {videos:N0} registered videos ({layout.Shards} index shards, 1 silo, gateway client)");
        md.AppendLine();
        md.AppendLine("| query | p50 ms | p99 ms |");
        md.AppendLine("|---|---:|---:|");
        md.AppendLine($"| corpus summary (fan-out to every shard) | {summary.P50:F2} | {summary.P99:F2} |");
        md.AppendLine($"| list Failed videos (first 100) | {failedPage.P50:F2} | {failedPage.P99:F2} |");
        md.AppendLine($"| one video's index entry | {lookup.P50:F2} | {lookup.P99:F2} |");
        md.AppendLine($"| HTTP GET /corpus/summary | {httpSummary.P50:F2} | {httpSummary.P99:F2} |");
        md.AppendLine($"| baseline: summary by asking every video grain (warm; measured on {baselineIds.Length:N0}, scaled to {videos:N0}) | {scan.P50:F0} | {scan.P99:F0} |");
        md.AppendLine();
        md.AppendLine($"Index summary vs. grain scan: **{scan.P50 / summary.P50:F0}x** faster at p50. Filling the index with {videos:N0} entries took {fillSeconds:F1} s " +
                      $"({videos / fillSeconds:F0} upserts/s, group-committed blob writes).");
        return md.ToString();
    }

    private static async Task<string> IngestionThroughputAsync(AzuriteFixture azurite, int count, int seconds)
    {
        var mediaDir = Directory.CreateTempSubdirectory("lvmae-bench-grains-").FullName;
        try
        {
            var sources = new[] { "testsrc2", "smptebars", "mandelbrot", "life", "cellauto", "rgbtestsrc" };
            var files = new List<string>();
            for (var i = 0; i < count; i++)
            {
                var path = Path.Combine(mediaDir, $"clip{i:D3}.mp4");
                await TestVideos.GenerateAsync(path, seconds, sources[i % sources.Length], size: 96, fps: 10, options: new TestVideoOptions { HueDegrees = 3 + 11 * i });
                files.Add(path);
            }

            // Warm-up (JIT, encoder, ffmpeg page cache) in a throwaway container, then each setup on a fresh container.
            await IngestAsync(azurite, "bench-ingest-warmup", files.Take(2).ToList(), silos: 2, jobsPerSilo: 1);
            var rows = new List<(string Setup, double Seconds)>();
            rows.Add(("1 silo, 1 job", await IngestAsync(azurite, "bench-ingest-1x1", files, silos: 1, jobsPerSilo: 1)));
            rows.Add(("2 silos, 1 job each", await IngestAsync(azurite, "bench-ingest-2x1", files, silos: 2, jobsPerSilo: 1)));
            rows.Add(("1 silo, 2 jobs", await IngestAsync(azurite, "bench-ingest-1x2", files, silos: 1, jobsPerSilo: 2)));

            var md = new StringBuilder();
            md.AppendLine($"### Ingestion throughput: {count} videos of {seconds} s (96x96, 10 fps, H.264), builtin encoder, {Environment.ProcessorCount} cores");
            md.AppendLine();
            md.AppendLine("| setup | wall s | videos/min | vs 1 silo |");
            md.AppendLine("|---|---:|---:|---:|");
            foreach (var (setup, wall) in rows)
                md.AppendLine($"| {setup} | {wall:F1} | {count / wall * 60:F1} | {rows[0].Seconds / wall:F2}x |");
            md.AppendLine();
            md.AppendLine("Wall time from the first upload to the last video Embedded (registration through a gateway client, work in the silos' background, bounded per silo). " +
                          "On one machine a second silo adds job slots, not cores: compare it with one silo allowed two jobs.");
            return md.ToString();
        }
        finally
        {
            try { Directory.Delete(mediaDir, true); } catch (IOException) { }
        }
    }

    private static async Task<double> IngestAsync(AzuriteFixture azurite, string container, IReadOnlyList<string> files, int silos, int jobsPerSilo)
    {
        var first = Settings(azurite, container, jobsPerSilo);
        var hosts = new List<LvMaeSiloHost> { await LvMaeSiloHost.StartAsync(first) };
        try
        {
            for (var i = 1; i < silos; i++)
                hosts.Add(await LvMaeSiloHost.StartAsync(Settings(azurite, container, jobsPerSilo, first.Clustering.SiloPort, api: false) is var s
                    ? WithIds(s, first) : s));
            await using var client = await LvMaeClient.ConnectAsync(first);
            var management = client.Cluster.GetGrain<IManagementGrain>(0);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await management.GetHosts(onlyActive: true)).Count < silos && DateTime.UtcNow < deadline) await Task.Delay(200);

            var ingestor = new VideoIngestor(new BlobStore(azurite.ConnectionString, container), client.Grains);
            var watch = Stopwatch.StartNew();
            var ids = new List<string>();
            foreach (var file in files) ids.Add((await ingestor.IngestFileAsync(file, "builtin", ["bench"])).VideoId);
            deadline = DateTime.UtcNow.AddMinutes(15);
            while (DateTime.UtcNow < deadline)
            {
                var page = await client.Grains.QueryAsync(new VideoQuery { Label = "bench", Limit = 0 });
                var done = (await client.Grains.SummaryAsync()).ByStage;
                if (done.GetValueOrDefault(VideoStage.Embedded) + done.GetValueOrDefault(VideoStage.Failed) >= page.Matching && page.Matching == ids.Count) break;
                await Task.Delay(100);
            }
            var seconds = watch.Elapsed.TotalSeconds;
            var failed = (await client.Grains.SummaryAsync()).ByStage.GetValueOrDefault(VideoStage.Failed);
            if (failed > 0) throw new InvalidOperationException($"{failed} video(s) failed during the ingestion benchmark");
            return seconds;
        }
        finally
        {
            foreach (var host in Enumerable.Reverse(hosts)) await host.DisposeAsync();
        }
    }

    private static LvMaeSiloSettings WithIds(LvMaeSiloSettings s, LvMaeSiloSettings first)
    {
        s.Clustering.ClusterId = first.Clustering.ClusterId;
        s.Clustering.ServiceId = first.Clustering.ServiceId;
        return s;
    }
}
