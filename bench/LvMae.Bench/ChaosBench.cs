using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// The chaos harness (`./bench.sh chaos`): real processes (three silos on Azure Table membership, Azurite, the `lvmae`
/// CLI), a generated corpus of videos of mixed length, and faults injected at random moments: a silo SIGKILLed (and
/// started again), storage stopped for 10 s and for 120 s. After each trial `lvmae verify` checks the invariant: every
/// video Embedded or Failed with a reason, index entry and data blobs agreeing with the video's persisted state, no
/// orphaned blobs. No trial retries anything by hand. A first, fault-free trial measures the ingest and status-query
/// latency from 4 clients at a steady rate while the cluster is saturated. Then the training trials (<see cref="ChaosTraining"/>):
/// a run through `lvmae train` with storage stopped, and with the silo hosting it SIGKILLed, against the same run without
/// a fault. Results go to docs/RELIABILITY.md as well.
/// </summary>
public sealed class ChaosBench : IBenchSuite
{
    public string Name => "chaos";

    private sealed record Trial(string Scenario, int Number, int Faults, int Videos, int Embedded, int Failed, int Inconsistencies,
        int Orphans, int VerifyExit, double IngestSeconds, double RecoverySeconds, string Notes)
    {
        public int Lost => Videos - Embedded - Failed;
    }

    private sealed record Load(int Clients, int Requests, int Errors, double P50, double P99, double Seconds);

    public async Task<string> RunAsync(BenchContext context)
    {
        if (context.StorageKillTrials is not null) return await StorageKillTrials.RunAsync(context);
        var videos = context.Videos ?? (context.Quick ? 40 : 200);
        var kills = context.Quick ? 2 : 10;
        var longOutage = TimeSpan.FromSeconds(context.Quick ? 30 : 120);
        var corpus = await ChaosCorpus.GenerateAsync(videos);
        var work = Directory.CreateTempSubdirectory("lvmae-chaos-").FullName;
        var azurite = new AzuriteFixture();
        await azurite.InitializeAsync();
        var trials = new List<Trial>();
        var rng = new Random(2026);
        try
        {
            var (baseline, load) = await IngestTrialAsync(azurite, work, corpus, videos, "no fault; 4 status clients at a steady rate", 0, fault: null, measureLoad: true);
            trials.Add(baseline);
            var t0 = baseline.IngestSeconds;
            for (var i = 1; i <= kills; i++)
            {
                var at = TimeSpan.FromSeconds(t0 * (0.1 + 0.7 * rng.NextDouble()));
                var victim = rng.Next(3);
                trials.Add((await IngestTrialAsync(azurite, work, corpus, videos, "SIGKILL a random silo mid-ingest (started again 5 s later)", i,
                    cluster => KillAsync(cluster, victim, at), measureLoad: false)).Trial);
            }
            foreach (var outage in new[] { TimeSpan.FromSeconds(10), longOutage })
                trials.Add((await IngestTrialAsync(azurite, work, corpus, videos, $"storage stopped {outage.TotalSeconds:F0} s mid-ingest", trials.Count,
                    cluster => OutageAsync(cluster, TimeSpan.FromSeconds(t0 * 0.3), outage), measureLoad: false)).Trial);

            var training = await ChaosTraining.RunAsync(azurite, work, context.Quick);
            var md = Report(trials, load, videos) + ChaosTraining.Report(training);
            DocResults.Write("RELIABILITY.md", "chaos", $"./bench.sh chaos{(context.Quick ? " --quick" : "")}", md);
            return md;
        }
        finally
        {
            await azurite.DisposeAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    // ---- faults: each returns how many it injected and when the last one ended --------------------------------------------

    private static async Task<(int Faults, TimeSpan Ended, string Note)> KillAsync(ChaosCluster cluster, int victim, TimeSpan at)
    {
        var watch = Stopwatch.StartNew();
        await Task.Delay(at);
        var silo = cluster.Silos[victim];
        silo.Kill();
        await Task.Delay(TimeSpan.FromSeconds(5));
        await cluster.StartSiloAsync();
        return (1, watch.Elapsed, $"killed {silo.Name} at {at.TotalSeconds:F1} s");
    }

    private static async Task<(int Faults, TimeSpan Ended, string Note)> OutageAsync(ChaosCluster cluster, TimeSpan at, TimeSpan length)
    {
        var watch = Stopwatch.StartNew();
        await Task.Delay(at);
        await cluster.Azurite.StopAsync();
        await Task.Delay(length);
        await cluster.Azurite.StartAsync();
        return (1, watch.Elapsed, $"storage down from {at.TotalSeconds:F1} s for {length.TotalSeconds:F0} s");
    }

    // ---- one trial --------------------------------------------------------------------------------------------------------

    private static async Task<(Trial Trial, Load? Load)> IngestTrialAsync(AzuriteFixture azurite, string work, string corpus, int videos, string scenario, int number,
        Func<ChaosCluster, Task<(int Faults, TimeSpan Ended, string Note)>>? fault, bool measureLoad)
    {
        var name = $"chaos{number}-{Guid.NewGuid():N}"[..14];
        Console.WriteLine($"chaos: trial {number}: {scenario}");
        await using var cluster = await ChaosCluster.StartAsync(azurite, name, work);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var watch = Stopwatch.StartNew();
        using var stopLoad = new CancellationTokenSource();
        var load = measureLoad ? LoadAsync(cluster, stopLoad.Token) : null;
        var injected = fault?.Invoke(cluster);
        var ingest = await cluster.CliAsync("ingest", corpus, "--encoder", "builtin", "--no-wait", "--parallel", "8");

        // Wait until every video is finished (no manual step), however long recovery takes (bounded).
        var deadline = DateTime.UtcNow.AddMinutes(20);
        JsonElement? summary = null;
        while (DateTime.UtcNow < deadline)
        {
            summary = await cluster.SummaryAsync(http);
            if (summary is { } s && s.GetProperty("total").GetInt32() >= videos && ChaosCluster.Stage(s, "Embedded") + ChaosCluster.Stage(s, "Failed") >= videos
                && (injected is null || injected.IsCompleted)) break;
            await Task.Delay(500);
        }
        var ingestSeconds = watch.Elapsed.TotalSeconds;
        await stopLoad.CancelAsync();
        var (faults, ended, note) = injected is null ? (0, TimeSpan.Zero, "") : await injected;
        var loadResult = load is null ? null : await load;

        var verify = await cluster.CliAsync("verify", "--json");
        var report = ParseReport(verify.Output);
        var final = summary ?? default;
        var trial = new Trial(scenario, number, faults, videos,
            summary is null ? 0 : ChaosCluster.Stage(final, "Embedded"), summary is null ? 0 : ChaosCluster.Stage(final, "Failed"),
            report?.GetProperty("inconsistencies").GetInt32() ?? -1, report?.GetProperty("orphans").GetInt32() ?? -1, verify.Code,
            ingestSeconds, faults == 0 ? 0 : Math.Max(0, ingestSeconds - ended.TotalSeconds),
            string.Join("; ", new[] { note, ingest.Code == 0 ? "" : $"ingest exit {ingest.Code}: {CliProcess.Tail(ingest.Output, 2)}",
                report is null ? $"verify said: {CliProcess.Tail(verify.Output, 3)}" : "" }.Where(n => n.Length > 0)));
        Console.WriteLine($"chaos: trial {number}: {trial.Embedded} embedded, {trial.Failed} failed, {trial.Lost} lost, {trial.Inconsistencies} inconsistencies, verify exit {trial.VerifyExit} ({trial.Notes})");
        return (trial, loadResult);
    }

    /// <summary>The AuditReport `lvmae verify --json` printed (its computed "inconsistencies" included).</summary>
    internal static JsonElement? ParseReport(string output)
    {
        var start = output.IndexOf('{');
        if (start < 0) return null;
        try
        {
            using var doc = JsonDocument.Parse(output[start..]);
            return doc.RootElement.Clone();
        }
        catch (JsonException) { return null; }
    }

    /// <summary>4 clients, each on its own silo's API, asking summary / a filtered page / one video about 10 times a second each.</summary>
    private static async Task<Load> LoadAsync(ChaosCluster cluster, CancellationToken stop)
    {
        var watch = Stopwatch.StartNew();
        var silos = cluster.Silos.ToList();
        var clients = Enumerable.Range(0, 4).Select(async c =>
        {
            using var http = new HttpClient { BaseAddress = silos[c % silos.Count].Api, Timeout = TimeSpan.FromSeconds(10) };
            var times = new List<double>();
            var errors = 0;
            string? known = null;
            while (!stop.IsCancellationRequested)
            {
                foreach (var path in new[] { "corpus/summary", "videos?state=Embedded&limit=100", known is null ? "corpus/summary" : $"videos/{known}" })
                {
                    var t = Stopwatch.StartNew();
                    try
                    {
                        using var response = await http.GetAsync(path, CancellationToken.None);
                        var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                        if (!response.IsSuccessStatusCode) errors++;
                        else if (known is null && path.StartsWith("videos?", StringComparison.Ordinal) && body.Contains("\"id\":\"", StringComparison.Ordinal))
                            known = body.Split("\"id\":\"")[1].Split('"')[0];
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { errors++; }
                    times.Add(t.Elapsed.TotalMilliseconds);
                }
                try { await Task.Delay(300, stop); } catch (OperationCanceledException) { }
            }
            return (times, errors);
        }).ToList();
        var all = await Task.WhenAll(clients);
        var ms = all.SelectMany(a => a.times).Order().ToList();
        return new Load(4, ms.Count, all.Sum(a => a.errors), ms.Count == 0 ? 0 : ms[ms.Count / 2], ms.Count == 0 ? 0 : ms[(int)(0.99 * (ms.Count - 1))], watch.Elapsed.TotalSeconds);
    }

    private static string Report(IReadOnlyList<Trial> trials, Load? load, int videos)
    {
        var md = new StringBuilder();
        md.AppendLine($"Corpus: {videos} generated videos of 5-60 s (ffmpeg lavfi, 48 px, 5 fps), encoder builtin; 3 silo processes (1 job each) on Azure Table membership,");
        md.AppendLine("one Azurite (blobs + tables), `lvmae ingest DIR --no-wait` then the cluster works alone; `lvmae verify` after each trial. Nothing is retried by hand.");
        md.AppendLine();
        md.AppendLine("| # | scenario | faults | videos | Embedded | Failed | lost | inconsistencies | orphans | verify | ingest s | recovered s after the fault | notes |");
        md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var t in trials)
            md.AppendLine($"| {t.Number} | {t.Scenario} | {t.Faults} | {t.Videos} | {t.Embedded} | {t.Failed} | {t.Lost} | {t.Inconsistencies} | {t.Orphans} | {(t.VerifyExit == 0 ? "ok" : $"exit {t.VerifyExit}")} | " +
                          $"{t.IngestSeconds:F0} | {(t.Faults == 0 ? "-" : t.RecoverySeconds.ToString("F0", CultureInfo.InvariantCulture))} | {t.Notes.Replace("|", "/")} |");
        md.AppendLine();
        md.AppendLine($"**Totals: {trials.Count} trials, {trials.Sum(t => t.Faults)} faults injected, {trials.Sum(t => t.Lost)} videos lost, " +
                      $"{trials.Sum(t => Math.Max(0, t.Inconsistencies))} inconsistencies, {trials.Count(t => t.VerifyExit != 0)} failed verifications.**");
        if (load is not null)
        {
            md.AppendLine();
            md.AppendLine($"Load (trial 0): {load.Clients} clients, {load.Requests:N0} status requests over {load.Seconds:F0} s of saturated ingest " +
                          $"(summary, a page of 100 Embedded, one video; each client on its own silo): p50 **{load.P50:F1} ms**, p99 **{load.P99:F1} ms**, errors **{load.Errors}**.");
        }
        return md.ToString();
    }
}

/// <summary>The chaos corpus: videos of mixed length, generated once per size and kept under the temp folder.</summary>
public static class ChaosCorpus
{
    public static async Task<string> GenerateAsync(int videos)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"lvmae-chaos-corpus-{videos}");
        Directory.CreateDirectory(dir);
        var sources = TestVideos.DistinctSources;
        await Parallel.ForEachAsync(Enumerable.Range(0, videos), new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (i, ct) =>
        {
            var path = Path.Combine(dir, $"chaos-{i:D4}.mp4");
            if (File.Exists(path) && new FileInfo(path).Length > 0) return;
            var seconds = 5 + (i * 37 % 56); // 5..60 s, spread evenly
            await TestVideos.GenerateAsync(path + ".tmp.mp4", seconds, sources[i % sources.Count], size: 48, fps: 5,
                options: new TestVideoOptions { HueDegrees = i * 7 % 360 }, cancellationToken: ct);
            File.Move(path + ".tmp.mp4", path, overwrite: true);
        });
        return dir;
    }
}
