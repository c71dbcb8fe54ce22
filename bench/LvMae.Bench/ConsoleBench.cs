using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// The web console's latency at corpus scale against the JSON API's, in the same run on the same silo: a silo process on
/// Azurite, a corpus of N imported videos (10 labels, train/test; `lvmae import-embeddings`, as the scale suite), and a
/// registered run; then for each console page the matching JSON request, interleaved, 200 times each. Wall time on loopback
/// (an upper bound of the server time the target names: &lt; 200 ms per console page).
/// </summary>
public sealed class ConsoleBench : IBenchSuite
{
    public string Name => "console";

    private const int Rounds = 200;
    private const int Classes = 10;

    public async Task<string> RunAsync(BenchContext context)
    {
        var total = context.Videos ?? (context.Quick ? 5_000 : 100_000);
        var work = Directory.CreateTempSubdirectory("lvmae-console-bench-").FullName;
        var azurite = context.NewAzurite();
        await azurite.InitializeAsync();
        ExternalSilo? silo = null;
        try
        {
            var (waveA, waveB, labels) = ScaleBench.Generate(work, total, total);
            var env = ScaleBench.SiloSettings(azurite, "console-bench");
            silo = await ExternalSilo.StartAsync("console-bench", env, work);
            var cliEnv = ScaleBench.ClientSettings(env, silo);
            using var http = new HttpClient { BaseAddress = silo.Api, Timeout = TimeSpan.FromSeconds(60) };
            var import = Stopwatch.StartNew();
            var result = await ScaleBench.RunCliAsync(cliEnv, work, "import-embeddings", waveA, "--labels", labels, "--no-wait", "--parallel", "16");
            if (result.Code != 0) throw new InvalidOperationException($"import failed ({result.Code}): {CliProcess.Tail(result.Output, 20)}");
            while (true)
            {
                var s = await http.GetFromJsonAsync<JsonElement>("corpus/summary");
                var embedded = s.GetProperty("byStage").TryGetProperty("Embedded", out var e) ? e.GetInt32() : 0;
                if (embedded >= total) break;
                if (import.Elapsed > TimeSpan.FromHours(2)) throw new TimeoutException($"{embedded} of {total} embedded after 2 h");
                await Task.Delay(2000);
            }
            Console.WriteLine($"console: {total:N0} videos embedded in {import.Elapsed.TotalSeconds:F0} s");

            return await PagesAsync(silo, http, "console-bench", total, context.StorageNote);
        }
        finally
        {
            if (silo is not null) await silo.DisposeAsync();
            await azurite.DisposeAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Times each console page against its JSON request on a running silo whose <paramref name="total"/> imported videos
    /// (labels class=0..9) are all Embedded, after registering one run; the markdown table. The scale suite calls it too, so
    /// the console is measured at 100k on the same corpus as the status queries.
    /// </summary>
    internal static async Task<string> PagesAsync(ExternalSilo silo, HttpClient http, string cluster, int total, string storage)
    {
        // A registered run (the registry entry is what the runs pages read; no training here).
        await using (var client = await LvMaeClient.ConnectAsync(new ClusteringOptions
                     {
                         GatewayPort = silo.GatewayPort, SiloPort = silo.SiloPort, ClusterId = cluster, ServiceId = cluster,
                     }))
            await client.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Upsert(new RunSummary
            {
                Name = "bench-run", State = "Done", Step = 1000, CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
                Config = new TrainingRunConfig { Preset = "tiny" },
                Schedule = new TrainingSchedule { PeakLr = 1e-3, WarmupSteps = 100, TotalSteps = 1000, MinLr = 1e-6, BatchSize = 16 },
            });

        var page = await http.GetFromJsonAsync<JsonElement>("videos?state=Embedded&limit=1000");
        var ids = page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()!).ToList();
        var rng = new Random(3);
        var pairs = new (string Page, Func<string> Console, Func<string> Json)[]
        {
            ("corpus", () => "console", () => "corpus/summary"),
            ("video list, state + label filter, 100 rows", () => $"console/videos?state=Embedded&label=class%3D{rng.Next(Classes)}", () => $"videos?state=Embedded&label=class%3D{rng.Next(Classes)}"),
            ("video list, 3-character id prefix", () => $"console/videos?prefix={ids[rng.Next(ids.Count)][..3]}", () => $"videos?prefix={ids[rng.Next(ids.Count)][..3]}"),
            ("video list, 10th page by cursor", () => $"console/videos?cursor={Uri.EscapeDataString(page.GetProperty("next").GetString()!)}", () => $"videos?cursor={Uri.EscapeDataString(page.GetProperty("next").GetString()!)}"),
            ("one video", () => $"console/videos/{ids[rng.Next(ids.Count)]}", () => $"videos/{ids[rng.Next(ids.Count)]}"),
            ("runs", () => "console/runs", () => "runs"),
            ("one run", () => "console/runs/bench-run", () => "runs/bench-run"),
        };
        var md = new StringBuilder();
        md.AppendLine($"### Web console pages against the JSON API at {total:N0} videos");
        md.AppendLine();
        md.AppendLine($"One silo process on Azurite{storage}, {total:N0} imported videos (64-d, 12-60 segments, {Classes} labels + split) all Embedded, one registered run;");
        md.AppendLine($"each console page and its JSON request alternately, {Rounds} times each after 20 warm-up rounds, wall ms on loopback (server time plus the local round trip). Target: < 200 ms per console page.");
        md.AppendLine("The cursor row pages from the 1,000th video; the one-run row reads a registry entry, the run's (absent) progress and metrics blob.");
        md.AppendLine();
        md.AppendLine("| page | console p50 | console p99 | JSON p50 | JSON p99 | console bytes |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (name, console, json) in pairs)
        {
            var (c, j) = (new List<double>(), new List<double>());
            long bytes = 0;
            for (var i = 0; i < Rounds + 20; i++)
            {
                var (cm, cb) = await TimeAsync(http, console());
                var (jm, _) = await TimeAsync(http, json());
                if (i < 20) continue;
                c.Add(cm);
                j.Add(jm);
                bytes = cb;
            }
            md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {P(c, 0.5):F2} | **{P(c, 0.99):F2}** | {P(j, 0.5):F2} | {P(j, 0.99):F2} | {bytes:N0} |");
        }
        md.AppendLine();
        return md.ToString();
    }

    private static async Task<(double Ms, long Bytes)> TimeAsync(HttpClient http, string path)
    {
        var watch = Stopwatch.StartNew();
        using var response = await http.GetAsync(path);
        var body = await response.Content.ReadAsByteArrayAsync();
        var ms = watch.Elapsed.TotalMilliseconds;
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)[..Math.Min(300, body.Length)]}");
        return (ms, body.Length);
    }

    private static double P(List<double> ms, double q)
    {
        ms.Sort();
        return ms[(int)(q * (ms.Count - 1))];
    }
}
