using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// Bad input measured on a silo process (`./bench.sh badinput`): one silo process on Azurite, and a corpus of good
/// videos and imports interleaved with every kind of bad input the project generates (<see cref="BadInputCorpus"/>),
/// fed one at a time through the `lvmae` CLI or the HTTP API, each followed to its final state. After each the silo's
/// resident memory is read from /proc: growth (VmRSS after - before) and peak growth (VmHWM, reset before each input, -
/// VmRSS before). Each input passes when it ends in a state right for it, a refused one with an error that names it, and
/// both growths stay under <see cref="LimitMiB"/>. At the end every good input must be Embedded and `lvmae verify` clean.
/// Results go to docs/RELIABILITY.md as well.
/// </summary>
public sealed class BadInputBench : IBenchSuite
{
    public string Name => "badinput";

    /// <summary>The ceiling on the silo's memory growth (and peak growth) per input.</summary>
    public const double LimitMiB = 100;

    private const string Key = "badinput-api-key";

    private sealed record Result(BadInput Input, string State, string Error, bool Named, double RssBefore, double RssAfter, double Peak, double Seconds)
    {
        public double Growth => RssAfter - RssBefore;
        public double PeakGrowth => Peak - RssBefore;
        public bool StateRight => Input.Expected.Contains(State);
        public bool Clear => Input.IsGood || (Error.Length > 0 && Named);
        public bool Pass => StateRight && Clear && Growth < LimitMiB && PeakGrowth < LimitMiB;
    }

    public async Task<string> RunAsync(BenchContext context)
    {
        var work = Directory.CreateTempSubdirectory("lvmae-badinput-").FullName;
        var azurite = new AzuriteFixture();
        await azurite.InitializeAsync();
        try
        {
            var inputs = await BadInputCorpus.BuildAsync(work, context.Quick);
            Console.WriteLine($"badinput: {inputs.Count} inputs generated");
            var name = $"bad{Guid.NewGuid():N}"[..12];
            await using var cluster = await ChaosCluster.StartAsync(azurite, name, work, silos: 1, new Dictionary<string, string> { ["Api__ApiKey"] = Key });
            var silo = cluster.Silos[0];
            using var http = new HttpClient { BaseAddress = silo.Api, Timeout = TimeSpan.FromSeconds(60) };
            var peakReset = ProcessStats.TryResetPeak(silo.Pid);

            var results = new List<Result>();
            var goodIds = new Dictionary<string, string>();
            foreach (var input in inputs)
            {
                if (silo.HasExited) throw new InvalidOperationException($"the silo died before '{input.Label}': {ExternalSilo.Tail(silo.LogPath)}");
                var result = await FeedAsync(input, cluster, http, silo.Pid, peakReset, goodIds);
                results.Add(result);
                Console.WriteLine($"badinput: {(result.Pass ? "PASS" : "FAIL")} {input.Category} | {input.Label} -> {result.State} " +
                                  $"(growth {result.Growth:F1} MiB, peak {result.PeakGrowth:F1} MiB, {result.Seconds:F1} s): {Trim(result.Error, 160)}");
            }

            // The rest of the corpus proceeded: every good input is Embedded, as the API reports it now.
            var embedded = 0;
            foreach (var id in goodIds.Values)
            {
                using var response = await SendAsync(http, $"videos/{id}");
                if (response.IsSuccessStatusCode && (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("stage").GetString() == "Embedded") embedded++;
            }
            var verify = await cluster.CliAsync("verify");
            var md = Report(results, embedded, goodIds.Count, inputs.Count(i => i.IsGood), verify, peakReset, context.Quick);
            DocResults.Write("RELIABILITY.md", "badinput", $"./bench.sh badinput{(context.Quick ? " --quick" : "")}", md);
            return md;
        }
        finally
        {
            await azurite.DisposeAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>One input, fed and followed to its final state, with the silo's memory before and after.</summary>
    private static async Task<Result> FeedAsync(BadInput input, ChaosCluster cluster, HttpClient http, int pid, bool peakReset, Dictionary<string, string> goodIds)
    {
        await WaitIdleAsync(http);
        var before = ProcessStats.RssMiB(pid);
        if (peakReset) ProcessStats.TryResetPeak(pid);
        var peakBefore = ProcessStats.PeakRssMiB(pid);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (state, error, named) = input.Feed == Feed.Http ? await GetAsync(input, http) : await CliAsync(input, cluster, goodIds);
        await WaitIdleAsync(http); // the CLI followed its video to Embedded/Failed; nothing may still run for it
        var seconds = watch.Elapsed.TotalSeconds;
        var peak = ProcessStats.PeakRssMiB(pid);
        // Without a resettable peak, only a new high tells this input's peak; otherwise it is at most the old one.
        return new Result(input, state, error, named, before, ProcessStats.RssMiB(pid), peakReset || peak > peakBefore ? peak : before, seconds);
    }

    private static async Task<(string State, string Error, bool Named)> CliAsync(BadInput input, ChaosCluster cluster, Dictionary<string, string> goodIds)
    {
        var (code, output) = await cluster.CliAsync(input.Args);
        var named = input.MustName is null || output.Contains(input.MustName, StringComparison.Ordinal);
        // Redirected, `lvmae ingest`/`import-embeddings` print one tab-separated row per file: file, video id, state, detail.
        var file = Path.GetFileName(input.Args[1]);
        var row = output.ReplaceLineEndings("\n").Split('\n').Select(l => l.Split('\t')).FirstOrDefault(cells => cells.Length == 4 && cells[0] == file);
        if (row is not null)
        {
            if (input.IsGood) goodIds[input.Label] = row[1];
            return (row[2], row[2] == "Embedded" && input.IsGood ? "" : row[3], named);
        }
        var said = CliProcess.Tail(output, 2).Replace('\n', ' ');
        return (code == 2 ? "refused" : $"exit {code}", said, named);
    }

    private static async Task<(string State, string Error, bool Named)> GetAsync(BadInput input, HttpClient http)
    {
        using var response = await SendAsync(http, input.Args[0], input.Key);
        var body = await response.Content.ReadAsStringAsync();
        var error = "";
        if (!response.IsSuccessStatusCode)
            try { error = JsonDocument.Parse(body).RootElement.GetProperty("error").GetString() ?? ""; }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException) { error = body.Length > 0 ? body : response.ReasonPhrase ?? ""; }
        var named = input.MustName is null || error.Contains(input.MustName, StringComparison.Ordinal);
        return (((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture),
            response.StatusCode == HttpStatusCode.OK ? $"{body.Length} bytes" : error, named);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string path, ApiKey key = ApiKey.Right)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key != ApiKey.None) request.Headers.Add("X-Api-Key", key == ApiKey.Right ? Key : "not-the-key");
        return await http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
    }

    /// <summary>Until the silo runs and queues no media job (bounded: a stuck job shows as a failed input, not a hung bench).</summary>
    private static async Task WaitIdleAsync(HttpClient http)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (DateTime.UtcNow < deadline)
        {
            using var response = await SendAsync(http, "silo/jobs");
            var jobs = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
            if (jobs.GetProperty("running").GetInt32() == 0 && jobs.GetProperty("waiting").GetInt32() == 0) return;
            await Task.Delay(200);
        }
    }

    private static string Trim(string text, int length)
    {
        var flat = CliProcess.Fold(text).Trim();
        return flat.Length > length ? flat[..(length - 3)] + "..." : flat;
    }

    private static string Report(IReadOnlyList<Result> results, int embedded, int goodIds, int good, (int Code, string Output) verify, bool peakReset, bool quick)
    {
        var md = new StringBuilder();
        md.AppendLine($"{results.Count} inputs ({good} good ones among them), fed one at a time to one silo process (1 media job) on Azurite through `lvmae ingest FILE --encoder builtin`,");
        md.AppendLine("`lvmae import-embeddings FILE`, `lvmae ingest FILE --labels CSV` or a GET on the silo's HTTP API (API key set), each followed to its final state.");
        md.AppendLine($"Memory is the silo process's (/proc: VmRSS before and after; peak = VmHWM{(peakReset ? ", reset before each input," : " (not resettable here: only new highs)")} minus VmRSS before),");
        md.AppendLine($"not its ffmpeg children's. Limit per input: **{LimitMiB:F0} MiB** of growth and of peak growth. `{(quick ? "--quick" : "full")}` corpus.");
        md.AppendLine();
        md.AppendLine("| # | category | input | final state | error shown to the user | RSS before MiB | after MiB | growth MiB | peak growth MiB | verdict |");
        md.AppendLine("|---:|---|---|---|---|---:|---:|---:|---:|---|");
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            var why = r.Pass ? "PASS" : "FAIL: " + string.Join(", ", new[]
            {
                r.StateRight ? "" : $"expected {string.Join("/", r.Input.Expected)}", r.Clear ? "" : "error does not name the input",
                r.Growth < LimitMiB ? "" : "growth", r.PeakGrowth < LimitMiB ? "" : "peak",
            }.Where(s => s.Length > 0));
            md.AppendLine($"| {i + 1} | {Cell(r.Input.Category)} | {Cell(Trim(r.Input.Label, 40))} | {r.State} | {Cell(Trim(r.Error, 120))} | {r.RssBefore:F0} | {r.RssAfter:F0} | " +
                          $"{r.Growth:F1} | {r.PeakGrowth:F1} | {why} |");
        }
        var over = results.Count(r => r.Growth >= LimitMiB || r.PeakGrowth >= LimitMiB);
        var maxGrowth = results.MaxBy(r => r.Growth)!;
        var maxPeak = results.MaxBy(r => r.PeakGrowth)!;
        md.AppendLine();
        md.AppendLine($"**{results.Count(r => r.Pass)} of {results.Count} PASS. Inputs over the {LimitMiB:F0} MiB limit: {over}. " +
                      $"Largest growth {maxGrowth.Growth:F1} MiB ({Cell(maxGrowth.Input.Category)}); largest peak growth {maxPeak.PeakGrowth:F1} MiB ({Cell(maxPeak.Input.Category)}). " +
                      $"Wrong final state or unclear error: {results.Count(r => !r.StateRight || !r.Clear)}. " +
                      $"Good inputs Embedded at the end: {embedded} of {good}{(goodIds < good ? $" ({good - goodIds} never got an id)" : "")}. " +
                      $"`lvmae verify`: {(verify.Code == 0 ? "ok" : $"exit {verify.Code}")}. " +
                      $"Silo RSS {results[0].RssBefore:F0} MiB before the first input, {results[^1].RssAfter:F0} MiB after the last.**");
        if (verify.Code != 0) md.AppendLine().AppendLine($"verify said: {Cell(Trim(verify.Output, 400))}");
        return md.ToString();
    }

    private static string Cell(string text) => text.Replace("|", "/");
}
