using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using LvMae.Contracts;
using LvMae.Corpus;
using LvMae.Grains;
using LvMae.Grains.Index;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// Issue 28's storage-crash trials (`./bench.sh chaos --storage-kill-trials N --corpus quick|chaos`): per trial a fresh
/// Azurite and three silo processes on Azure Table membership; `lvmae ingest DIR --encoder builtin` (following to the end,
/// as a user runs it); at a random moment of the ingest (once a random share, 0-80 %, of the videos finished) Azurite is
/// SIGKILLed (it loses what it acknowledged since its last metadata save) and started again on the same data folder 60 s
/// later. Then, on the silos still running (no restart, no manual command), once the ingest command has exited and at least
/// 60 s after storage returned: every video's API stage (GET /videos/{id}), its index entry (GET /videos) and its persisted
/// state (the grain state blob, read directly) must agree, as must the ingest command's final report; `lvmae verify` must
/// exit 0. Results go to docs/RELIABILITY.md (one table per corpus).
/// </summary>
public static class StorageKillTrials
{
    public static readonly TimeSpan Down = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);

    public sealed record Result(int Number, int Videos, double KillAt, int FinishedAtKill, bool IngestRunningAtKill, int IngestExit,
        int ReportRows, int ReportDisagrees, int States, int IndexEntries, int Unfinished, int Disagreements, int Saving,
        int LogDiffers, int Inconsistencies, int VerifyExit, double CheckedAfterReturn, double Seconds, string Notes)
    {
        public bool Ok => Disagreements == 0 && ReportDisagrees == 0 && Unfinished == 0 && VerifyExit == 0 && States == Videos && IngestExit == 0;
    }

    public static async Task<string> RunAsync(BenchContext context)
    {
        var trials = context.StorageKillTrials!.Value;
        var corpus = context.Corpus ?? "quick";
        if (corpus == "training") return await TrainingAsync(trials);
        var (dir, videos) = corpus == "quick" ? (await QuickCorpusAsync(), CorpusSpec.Quick.VideoCount) : (await ChaosCorpus.GenerateAsync(200), 200);
        var work = Directory.CreateTempSubdirectory("lvmae-storagekill-").FullName;
        Console.WriteLine($"storage-kill: {trials} trial(s), corpus {corpus} ({videos} videos in {dir}), logs under {work}");
        var rng = new Random(28 * 1000 + trials + (corpus == "quick" ? 0 : 1));
        var results = new List<Result>();
        for (var i = 1; i <= trials; i++)
        {
            var share = 0.8 * rng.NextDouble();
            try { results.Add(await TrialAsync(i, dir, videos, share, work)); }
            catch (Exception e)
            {
                Console.WriteLine($"storage-kill: trial {i} could not run: {e}");
                results.Add(new Result(i, videos, 0, 0, false, -1, 0, 0, 0, 0, 0, -1, 0, -1, -1, -1, 0, 0, $"harness error: {e.GetType().Name}: {e.Message}"));
            }
            // Rewritten after each trial: a run cut short keeps what it measured.
            var md = Report(results, corpus, videos, trials);
            DocResults.Write("RELIABILITY.md", $"storagekill-{corpus}", $"./bench.sh chaos --storage-kill-trials {trials} --corpus {corpus} --no-write", md);
        }
        Console.WriteLine($"storage-kill: silo logs kept under {work}");
        return Report(results, corpus, videos, trials);
    }

    /// <summary>The training trials (<see cref="ChaosTraining.StorageKillAsync"/>) on one Azurite and 3 silo processes.</summary>
    private static async Task<string> TrainingAsync(int kills)
    {
        var work = Directory.CreateTempSubdirectory("lvmae-storagekill-").FullName;
        Console.WriteLine($"storage-kill: training, {kills} trial(s), logs under {work}");
        var azurite = new AzuriteFixture();
        await azurite.InitializeAsync();
        try
        {
            var results = await ChaosTraining.StorageKillAsync(azurite, work, kills, Down, new Random(28 * 1000 + kills + 2));
            var md = ChaosTraining.Report(results).Replace("### Training trials", "Storage SIGKILLed while training: the run must finish without help, as the chaos harness's training trials above.");
            DocResults.Write("RELIABILITY.md", "storagekill-training", $"./bench.sh chaos --storage-kill-trials {kills} --corpus training --no-write", md);
            return md;
        }
        finally
        {
            await azurite.DisposeAsync();
        }
    }

    /// <summary>The quick demo corpus (CorpusSpec.Quick: 24 videos of 50-105 s), rendered once under the temp folder.</summary>
    private static async Task<string> QuickCorpusAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "lvmae-storagekill-quick-corpus");
        await SyntheticCorpus.GenerateAsync(dir, CorpusSpec.Quick);
        return dir;
    }

    private static async Task<Result> TrialAsync(int number, string corpus, int videos, double share, string work)
    {
        var name = $"skill{number}-{Guid.NewGuid():N}"[..14];
        var killAfter = (int)Math.Round(share * videos);
        Console.WriteLine($"storage-kill: trial {number} ({name}): SIGKILL storage once {killAfter} of {videos} videos finished, back {Down.TotalSeconds:F0} s later");
        var watch = Stopwatch.StartNew();
        var azurite = new AzuriteFixture();
        await azurite.InitializeAsync();
        try
        {
            await using var cluster = await ChaosCluster.StartAsync(azurite, name, work);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
            var cli = new CliProcess(work, CliProcess.Settings(cluster.CliEnvironment));
            await using var ingest = cli.Start("ingest", corpus, "--encoder", "builtin", "--parallel", "4");
            var ingestDone = ingest.WaitForExitAsync(TimeSpan.FromMinutes(25));

            // The kill: once killAfter videos are finished (0: as soon as the ingest runs), at a random extra 0-3 s.
            var deadline = DateTime.UtcNow.AddMinutes(15);
            var finished = 0;
            while (DateTime.UtcNow < deadline && !ingestDone.IsCompleted)
            {
                if (await cluster.SummaryAsync(http) is { } s) finished = ChaosCluster.Stage(s, "Embedded") + ChaosCluster.Stage(s, "Failed");
                if (finished >= killAfter) break;
                await Task.Delay(250);
            }
            await Task.Delay(TimeSpan.FromSeconds(3 * Random.Shared.NextDouble()));
            var runningAtKill = !ingestDone.IsCompleted;
            var killAt = watch.Elapsed.TotalSeconds;
            azurite.Crash();
            Console.WriteLine($"storage-kill: trial {number}: storage SIGKILLed at {killAt:F1} s ({finished} finished, ingest {(runningAtKill ? "running" : "already exited")})");
            await Task.Delay(Down);
            await azurite.StartAsync();
            var back = Stopwatch.StartNew();
            Console.WriteLine($"storage-kill: trial {number}: storage back at {watch.Elapsed.TotalSeconds:F1} s");

            var ingestExit = await ingestDone;
            if (back.Elapsed < Settle) await Task.Delay(Settle - back.Elapsed);
            var checkedAfter = back.Elapsed.TotalSeconds;

            // On the running silos, before anything restarts: state (storage) = index entry (GET /videos) = API stage (GET /videos/{id}) = ingest report.
            var check = await CompareAsync(cluster, http, ingest.Output);
            var verify = await cluster.CliAsync("verify", "--json");
            var audit = ChaosBench.ParseReport(verify.Output);
            var notes = new List<string> { $"killed at {killAt:F0} s, {finished}/{videos} finished{(runningAtKill ? "" : " (ingest had exited)")}" };
            if (ingestExit != 0) notes.Add($"ingest exit {ingestExit}: {CliProcess.Tail(ingest.Output, 2)}");
            notes.AddRange(check.Problems.Take(3));
            if (audit is null) notes.Add($"verify said: {CliProcess.Tail(verify.Output, 3)}");
            else if (verify.Code != 0) notes.AddRange(audit.Value.GetProperty("problems").EnumerateArray().Take(3).Select(p => "verify: " + p.GetString()));
            var result = new Result(number, videos, killAt, finished, runningAtKill, ingestExit, check.ReportRows, check.ReportDisagrees, check.States,
                check.IndexEntries, check.Unfinished, check.Disagreements, check.Saving,
                audit?.GetProperty("logDiffers").GetInt32() ?? -1, audit?.GetProperty("inconsistencies").GetInt32() ?? -1, verify.Code,
                checkedAfter, watch.Elapsed.TotalSeconds, string.Join("; ", notes));
            Console.WriteLine($"storage-kill: trial {number}: {(result.Ok ? "OK" : "FAILED")}: {check.States} states, {check.Unfinished} unfinished, {check.Disagreements} disagreements, " +
                              $"report {check.ReportDisagrees} disagree of {check.ReportRows}, verify exit {verify.Code} ({result.LogDiffers} live/log), checked {checkedAfter:F0} s after storage returned");
            foreach (var p in check.Problems) Console.WriteLine($"  {p}");
            if (verify.Code != 0) Console.WriteLine(verify.Output);
            return result;
        }
        finally
        {
            await azurite.DisposeAsync();
        }
    }

    private sealed record Check(int States, int IndexEntries, int Unfinished, int Disagreements, int Saving, int ReportRows, int ReportDisagrees, List<string> Problems);

    private static async Task<Check> CompareAsync(ChaosCluster cluster, HttpClient http, string ingestOutput)
    {
        var api = cluster.Live.First().Api;
        // Persisted states, read straight from storage (not through any grain).
        var container = new BlobServiceClient(cluster.Azurite.ConnectionString).GetBlobContainerClient(BlobLayout.GrainStateContainer(cluster.Name));
        var states = new Dictionary<string, VideoState>(StringComparer.Ordinal);
        await foreach (var blob in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, GrainStateBlobs.VideoPrefix, CancellationToken.None))
        {
            if (!blob.Name.EndsWith(".json", StringComparison.Ordinal)) continue;
            var bytes = (await container.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToArray();
            if (bytes.Length == 0) continue;
            states[blob.Name[GrainStateBlobs.VideoPrefix.Length..^".json".Length]] = JsonSerializer.Deserialize<VideoState>(bytes, GrainStateJson.Options)!;
        }
        // The index as the API serves it.
        var index = new Dictionary<string, (string Stage, long Version)>(StringComparer.Ordinal);
        string? cursor = null;
        do
        {
            var page = await http.GetFromJsonAsync<JsonElement>(new Uri(api, "videos?limit=10000" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor))));
            foreach (var e in page.GetProperty("items").EnumerateArray())
                index[e.GetProperty("id").GetString()!] = (Stage(e.GetProperty("stage")), e.GetProperty("version").GetInt64());
            cursor = page.TryGetProperty("next", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        } while (cursor is not null);
        // The ingest command's final report: file \t video id \t state \t detail.
        var report = new Dictionary<string, string>(StringComparer.Ordinal);
        var reportRows = 0;
        foreach (var line in ingestOutput.Split('\n'))
        {
            var cells = line.TrimEnd('\r').Split('\t');
            if (cells.Length != 4 || cells[0] == "file") continue;
            reportRows++;
            report[cells[1]] = cells[2];
        }

        var problems = new List<string>();
        var (unfinished, disagreements, saving, reportDisagrees) = (0, 0, 0, 0);
        foreach (var id in states.Keys.Union(index.Keys).Union(report.Keys.Where(k => k != "-")).Order(StringComparer.Ordinal))
        {
            var state = states.GetValueOrDefault(id);
            var entry = index.TryGetValue(id, out var e) ? e : ((string Stage, long Version)?)null;
            string apiStage;
            var apiSaving = false;
            using (var response = await http.GetAsync(new Uri(api, $"videos/{id}")))
            {
                if (!response.IsSuccessStatusCode) apiStage = $"HTTP {(int)response.StatusCode}";
                else
                {
                    var status = await response.Content.ReadFromJsonAsync<JsonElement>();
                    apiStage = Stage(status.GetProperty("stage"));
                    apiSaving = status.TryGetProperty("saving", out var sv) && sv.ValueKind == JsonValueKind.True;
                }
            }
            if (apiSaving) saving++;
            var stored = state is null ? "no state" : state.Stage.ToString();
            if (state is not null && state.Stage is not (VideoStage.Embedded or VideoStage.Failed)) unfinished++;
            var agree = state is not null && entry is { } x && x.Stage == stored && x.Version == state.Version && apiStage == stored && !apiSaving;
            if (!agree)
            {
                disagreements++;
                problems.Add($"{id}: API {apiStage}{(apiSaving ? " (saving)" : "")}, index {(entry is { } y ? $"{y.Stage} v{y.Version}" : "no entry")}, storage {stored}{(state is null ? "" : $" v{state.Version}")}");
            }
            if (report.TryGetValue(id, out var reported) && reported != stored)
            {
                reportDisagrees++;
                problems.Add($"{id}: ingest reported {reported}, storage holds {stored}");
            }
        }
        foreach (var (id, _) in report.Where(r => r.Key == "-")) { reportDisagrees++; problems.Add("ingest reported a file not registered"); }
        return new Check(states.Count, index.Count, unfinished, disagreements, saving, reportRows, reportDisagrees, problems);
    }

    private static string Stage(JsonElement stage) => stage.ValueKind == JsonValueKind.Number
        ? Enum.GetName((VideoStage)stage.GetInt32()) ?? stage.GetInt32().ToString(CultureInfo.InvariantCulture)
        : stage.GetString() ?? "";

    private static string Report(IReadOnlyList<Result> results, string corpus, int videos, int planned)
    {
        var md = new StringBuilder();
        md.AppendLine($"Corpus `{corpus}`: {videos} videos ({(corpus == "quick" ? "the quick demo corpus, CorpusSpec.Quick: 50-105 s each" : "the chaos corpus: generated, 5-60 s, 48 px, 5 fps")}), " +
                      "`lvmae ingest DIR --encoder builtin` (following to the end); a fresh Azurite and 3 silo processes (1 job each, Azure Table membership) per trial. " +
                      $"Azurite SIGKILLed once a random 0-80 % of the videos finished, started again on the same data folder {Down.TotalSeconds:F0} s later. " +
                      $"Checked on the running silos (no restart, no manual command) once the ingest command exited and at least {Settle.TotalSeconds:F0} s after storage returned: " +
                      "per video, API stage (GET /videos/{id}, not `saving`) = index entry (GET /videos: stage and version) = persisted state (the grain state blob), and the ingest report's state = the persisted state; then `lvmae verify` " +
                      "(index and blobs against the states, the live index against each shard's persisted log).");
        md.AppendLine();
        md.AppendLine("| # | killed at s | finished at the kill | ingest exit | videos (states) | unfinished | API/index/state disagree | report disagrees | live index vs log | verify | checked s after storage returned | trial s | notes |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
            md.AppendLine($"| {r.Number} | {r.KillAt:F0} | {r.FinishedAtKill}/{r.Videos} | {r.IngestExit} | {r.States} | {r.Unfinished} | {r.Disagreements} | {r.ReportDisagrees}/{r.ReportRows} | {r.LogDiffers} | " +
                          $"{(r.VerifyExit == 0 ? "ok" : $"exit {r.VerifyExit}")} | {r.CheckedAfterReturn:F0} | {r.Seconds:F0} | {r.Notes.Replace("|", "/")} |");
        md.AppendLine();
        md.AppendLine($"**Totals: {results.Count} of {planned} planned trials ran, {results.Count(r => r.Ok)} met every target; {results.Sum(r => Math.Max(0, r.Disagreements))} API/index/state disagreements, " +
                      $"{results.Sum(r => r.ReportDisagrees)} ingest-report disagreements, {results.Sum(r => Math.Max(0, r.Unfinished))} unfinished videos, " +
                      $"{results.Count(r => r.VerifyExit != 0)} failed verifications, {results.Count(r => r.IngestExit != 0)} ingest commands that did not exit 0.**");
        return md.ToString();
    }
}
