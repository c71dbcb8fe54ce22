using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// Corpus scale through the product path: a silo PROCESS (the program a cluster machine runs) on Azurite, the `lvmae`
/// CLI as its own process importing small precomputed-embedding videos in two waves (10% then the rest), and HTTP status
/// queries against the silo's API while each wave runs and after it (idle). Reports registrations/s, time until all
/// Embedded, the silo's peak RSS, storage bytes the silo wrote per video (from its own traffic counters, GET
/// /silo/storage) in each wave, query latency percentiles, and an index check against the video states at the end.
/// </summary>
public sealed class ScaleBench : IBenchSuite
{
    public string Name => "scale";

    private const int Dim = 64;
    private const int Classes = 10;

    public async Task<string> RunAsync(BenchContext context)
    {
        var total = context.Videos ?? (context.Quick ? 10_000 : 100_000);
        var firstWave = total / 10;
        var work = Directory.CreateTempSubdirectory("lvmae-scale-").FullName;
        var azurite = context.NewAzurite();
        await azurite.InitializeAsync();
        ExternalSilo? silo = null;
        try
        {
            var generate = Stopwatch.StartNew();
            var (waveA, waveB, labels) = Generate(work, total, firstWave);
            Console.WriteLine($"scale: {total:N0} .npy files generated in {generate.Elapsed.TotalSeconds:F0} s");

            var env = SiloSettings(azurite, "scale");
            silo = await ExternalSilo.StartAsync("scale-silo", env, work);
            var cliEnv = ClientSettings(env, silo);
            using var http = new HttpClient { BaseAddress = silo.Api, Timeout = TimeSpan.FromSeconds(30) };
            var probe = new Prober(http, Math.Min(firstWave, 1000));

            // Its own emulator, gone before the waves: Azurite's in-memory store stops answering at about 115k blobs here.
            var modesStorage = context.NewAzurite();
            string modes;
            try
            {
                await modesStorage.InitializeAsync();
                modes = await RegistrationModesAsync(modesStorage, work, context.Quick ? 1_000 : 2_500);
            }
            finally { await modesStorage.DisposeAsync(); }
            var a = await WaveAsync("wave 1", waveA, labels, firstWave, cliEnv, silo, http, probe, work);
            var idleA = await probe.IdleAsync(firstWave);
            var b = await WaveAsync("wave 2", waveB, labels, total, cliEnv, silo, http, probe, work);
            var idleB = await probe.IdleAsync(total);
            // The web console on the same corpus and silo, idle, against the JSON API in the same run (issue 27's target).
            var consolePages = await ConsoleBench.PagesAsync(silo, http, "scale", total, context.StorageNote);

            var checkWatch = Stopwatch.StartNew();
            var check = await RunCliAsync(cliEnv, work, "index", "check");
            var checkSeconds = checkWatch.Elapsed.TotalSeconds;
            var verifyWatch = Stopwatch.StartNew();
            var verify = await RunCliAsync(cliEnv, work, "verify");
            var verifySeconds = verifyWatch.Elapsed.TotalSeconds;
            var peakRssImports = ProcessStats.PeakRssMiB(silo.Pid);
            var summary = await http.GetFromJsonAsync<JsonElement>("corpus/summary");
            var embedded = summary.GetProperty("byStage").TryGetProperty("Embedded", out var e) ? e.GetInt32() : 0;
            var peakRss = peakRssImports;
            var rss = ProcessStats.RssMiB(silo.Pid);
            await silo.DisposeAsync();
            silo = null;
            // The real files get an emulator of their own: the 100k imports' blobs (in memory or in its metadata file) would
            // otherwise slow every request of theirs.
            await azurite.DisposeAsync();
            azurite = context.NewAzurite();
            await azurite.InitializeAsync();

            var md = new StringBuilder();
            md.AppendLine($"### Import of {total:N0} precomputed-embedding videos into one silo process ({Dim}-d, 12-60 segments each)");
            md.AppendLine();
            md.AppendLine($"`lvmae import-embeddings DIR --labels labels.csv --no-wait` (its own process, 16 files at once) against a silo process on Azurite{(context.InMemoryStorage ? " (in-memory persistence: no metadata file rewritten on autosave)" : context.MariaDbStorage ? " (blob metadata in MariaDB: `--azurite-db mariadb`)" : "")};");
            md.AppendLine("each small .npy travels inside its registration (the silo validates and stores it). Bytes written are what the silo sent to");
            md.AppendLine("storage (its traffic counters), beyond the .npy data itself: grain state, index log and snapshots, reminder and membership tables.");
            md.AppendLine();
            md.AppendLine("| wave | videos | registration s | registrations/s | until all Embedded s | state B/video | index B/video | tables B/video | total B/video |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var w in new[] { a, b })
                md.AppendLine($"| {w.Name} (corpus {w.CorpusAfter:N0}) | {w.Videos:N0} | {w.RegistrationSeconds:F1} | {w.Videos / w.RegistrationSeconds:F0} | {w.EmbeddedSeconds:F1} | " +
                              $"{w.StateBytes / (double)w.Videos:F0} | {w.IndexBytes / (double)w.Videos:F0} | {w.TableBytes / (double)w.Videos:F0} | **{w.TotalBytes / (double)w.Videos:F0}** |");
            md.AppendLine();
            md.Append(modes);
            md.AppendLine();
            md.AppendLine($"Bytes written per video, wave 2 vs wave 1: **{b.TotalBytes / (double)b.Videos / (a.TotalBytes / (double)a.Videos):F2}x** (flat = constant work per video as the corpus grows 10x).");
            md.AppendLine($"Silo RSS: peak **{peakRss:F0} MiB**, {rss:F0} MiB at the end with {embedded:N0} videos Embedded. Scratch disk: none (imports are validated in memory).");
            md.AppendLine();
            md.AppendLine("HTTP status queries (ms; the filtered page is 100 Embedded videos of one label, every page answered from the shards' maintained sets):");
            md.AppendLine();
            md.AppendLine("| corpus | while | summary p50 | summary p99 | one video p50 | one video p99 | filtered page p50 | filtered page p99 |");
            md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|");
            foreach (var row in new[] { a.Busy, idleA, b.Busy, idleB })
                md.AppendLine($"| {row.Corpus:N0} | {row.While} | {row.Summary.P50:F2} | {row.Summary.P99:F2} | {row.Video.P50:F2} | {row.Video.P99:F2} | {row.Page.P50:F2} | {row.Page.P99:F2} |");
            md.AppendLine();
            md.Append(consolePages);
            md.AppendLine();
            md.AppendLine($"`lvmae index check` at the end ({checkSeconds:F0} s): exit {check.Code} ({(check.Code == 0 ? "index equals the video states" : "DIFFERENCES")}); {Tail(check.Output, 12).Replace("\n", " / ")}");
            md.AppendLine();
            md.AppendLine($"`lvmae verify` at the end ({verifySeconds:F0} s): exit {verify.Code} ({(verify.Code == 0 ? "the corpus invariant holds" : "PROBLEMS")}); {Tail(verify.Output, 12).Replace("\n", " / ")}");
            md.AppendLine();
            Console.WriteLine(md.ToString()); // the import figures, before the (long) real-file part
            var real = await RealFilesAsync(azurite, work, context.Quick ? 100 : 1000);
            md.Append(real);
            return md.ToString();
        }
        finally
        {
            if (silo is not null) await silo.DisposeAsync();
            await azurite.DisposeAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>CPU seconds of the emulator: Azurite, plus its MariaDB server when the blob metadata lives there.</summary>
    internal static double StorageCpuSeconds(AzuriteFixture azurite) =>
        (azurite.ProcessId is { } p ? ProcessStats.CpuSeconds(p) : 0) + (azurite.Database is { } db ? ProcessStats.CpuSeconds(db.ProcessId) : 0);

    /// <summary>
    /// Registration with the .npy uploaded by the client first (the silo reads it back to validate it) against the .npy
    /// carried inside the registration (validated in memory, stored by the silo), alternating rounds of the same size on one
    /// fresh silo, so both see the same machine, index size and emulator: registrations/s and CPU per registration.
    /// </summary>
    private static async Task<string> RegistrationModesAsync(AzuriteFixture azurite, string work, int perRound)
    {
        var env = SiloSettings(azurite, "scale-modes");
        await using var silo = await ExternalSilo.StartAsync("scale-modes", env, work);
        var cliEnv = ClientSettings(env, silo);
        var rows = new List<(string Mode, int Round, double Seconds, double SiloCpu, double StorageCpu)>();
        var round = 0;
        foreach (var (mode, inlineBytes) in new[] { ("upload first", 0), ("inline", VideoRegistration.MaxInlineContentBytes), ("upload first", 0), ("inline", VideoRegistration.MaxInlineContentBytes) })
        {
            var dir = Path.Combine(work, $"modes{round}");
            Directory.CreateDirectory(dir);
            for (var i = 0; i < perRound; i++)
            {
                var rng = new Random(round * perRound + i);
                var count = 12 + rng.Next(49);
                var values = new float[count * Dim];
                for (var k = 0; k < values.Length; k++) values[k] = (float)(rng.NextDouble() * 2 - 1);
                NpyArray.FromFloats(values, count, Dim).Write(Path.Combine(dir, $"mode{round}-{i:D5}.npy"));
            }
            var (silo0, storage0) = (ProcessStats.CpuSeconds(silo.Pid), StorageCpuSeconds(azurite));
            var watch = Stopwatch.StartNew();
            var import = await RunCliAsync(cliEnv, work, "import-embeddings", dir, "--no-wait", "--parallel", "16", "--inline-bytes", inlineBytes.ToString(CultureInfo.InvariantCulture));
            var seconds = watch.Elapsed.TotalSeconds;
            if (import.Code != 0) throw new InvalidOperationException($"import ({mode}) failed ({import.Code}): {Tail(import.Output, 20)}");
            rows.Add((mode, ++round, seconds, ProcessStats.CpuSeconds(silo.Pid) - silo0, azurite.ProcessId is not null ? StorageCpuSeconds(azurite) - storage0 : double.NaN));
            Console.WriteLine($"scale: registration {mode}, round {round}: {perRound / seconds:F0}/s");
            Directory.Delete(dir, recursive: true);
        }
        double Rate(string mode) => rows.Where(r => r.Mode == mode).Sum(_ => perRound) / rows.Where(r => r.Mode == mode).Sum(r => r.Seconds);
        var md = new StringBuilder();
        md.AppendLine($"Registration, the .npy uploaded by the client first (the silo reads it back to validate it) vs carried inside the registration (`--inline-bytes`, the default up to 1 MiB), alternating rounds of {perRound:N0} videos on one fresh silo in this run:");
        md.AppendLine();
        md.AppendLine("| round | mode | registrations/s | silo CPU ms per video | storage CPU ms per video (Azurite + MariaDB when used) |");
        md.AppendLine("|---:|---|---:|---:|---:|");
        foreach (var r in rows)
            md.AppendLine($"| {r.Round} | {r.Mode} | {perRound / r.Seconds:F0} | {1000 * r.SiloCpu / perRound:F2} | {1000 * r.StorageCpu / perRound:F2} |");
        md.AppendLine();
        md.AppendLine($"Inline / upload first: **{Rate("inline") / Rate("upload first"):F2}x** registrations/s.");
        return md.ToString();
    }

    private sealed record RealRun(string Setup, int Videos, double VideoSeconds, int Segments, double WallSeconds, double CpuSeconds, double PeakRssMiB, long PeakScratchBytes)
    {
        public double SegmentsPerSecond => Segments / WallSeconds;
        public double CpuSecondsPerVideoHour => CpuSeconds / (VideoSeconds / 3600);
    }

    /// <summary>
    /// Real video files through resnet18 into a silo process, with batch-1 inference (as before batching) and with the default
    /// batches, one after the other on the same files: segments/s, CPU seconds (silo + its ffmpeg children) per video-hour,
    /// peak RSS and peak scratch disk.
    /// </summary>
    private static async Task<string> RealFilesAsync(AzuriteFixture azurite, string work, int count)
    {
        const double seconds = 10;
        var dir = Path.Combine(Path.GetTempPath(), $"lvmae-scale-real-{count}");
        Directory.CreateDirectory(dir);
        var generate = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (i, ct) =>
        {
            var path = Path.Combine(dir, $"real-{i:D4}.mp4");
            if (File.Exists(path)) return;
            var source = TestVideos.DistinctSources[i % TestVideos.DistinctSources.Count];
            await TestVideos.GenerateAsync(path + ".tmp.mp4", seconds, source, 320, 30,
                new TestVideoOptions { Height = 180, Preset = "veryfast", HueDegrees = (i / TestVideos.DistinctSources.Count) * 0.35 }, ct);
            File.Move(path + ".tmp.mp4", path, overwrite: true);
        });
        // Files whose content happens to be identical are one video (the id is the content hash): wait for the distinct ones.
        var files = Directory.GetFiles(dir, "real-*.mp4");
        var distinct = (await Task.WhenAll(files.Select(f => LvMae.Client.VideoIngestor.ContentIdAsync(f)))).Select(c => c.Id).Distinct().Count();
        Console.WriteLine($"scale: {count} real video files ready in {generate.Elapsed.TotalSeconds:F0} s ({distinct} distinct videos)");

        var runs = new List<RealRun>();
        foreach (var (setup, batch) in new[] { ("batch 1 (one frame per ONNX call, as before)", (int?)1), ("batched (default)", null) })
        {
            var container = batch is null ? "real-batched" : "real-batch1";
            var env = SiloSettings(azurite, container);
            if (batch is { } b) env["Processing__InferenceBatchFrames"] = b.ToString(CultureInfo.InvariantCulture);
            await using var silo = await ExternalSilo.StartAsync(container, env, work);
            using var http = new HttpClient { BaseAddress = silo.Api, Timeout = TimeSpan.FromSeconds(30) };
            var cliEnv = ClientSettings(env, silo);
            var cpu0 = ProcessStats.CpuSeconds(silo.Pid);
            var watch = Stopwatch.StartNew();
            var import = await RunCliAsync(cliEnv, work, "ingest", dir, "--encoder", "resnet18", "--no-wait");
            if (import.Code != 0) throw new InvalidOperationException($"ingest failed ({import.Code}): {Tail(import.Output, 20)}");
            long peakScratch = 0;
            JsonElement summary;
            while (true)
            {
                summary = await http.GetFromJsonAsync<JsonElement>("corpus/summary");
                var storage = await http.GetFromJsonAsync<JsonElement>("silo/storage");
                if (storage.TryGetProperty("scratchBytes", out var scratch) && scratch.ValueKind == JsonValueKind.Number) peakScratch = Math.Max(peakScratch, scratch.GetInt64());
                var byStage = summary.GetProperty("byStage");
                var done = (byStage.TryGetProperty("Embedded", out var e) ? e.GetInt32() : 0) + (byStage.TryGetProperty("Failed", out var f) ? f.GetInt32() : 0);
                if (done >= distinct) break;
                if (silo.HasExited) throw new InvalidOperationException($"the silo died: {ExternalSilo.Tail(silo.LogPath)}");
                await Task.Delay(500);
            }
            var wall = watch.Elapsed.TotalSeconds;
            runs.Add(new RealRun(setup, distinct, distinct * seconds, (int)summary.GetProperty("segments").GetInt64(), wall, ProcessStats.CpuSeconds(silo.Pid) - cpu0,
                ProcessStats.PeakRssMiB(silo.Pid), peakScratch));
            Console.WriteLine($"scale: real files, {setup}: {wall:F0} s");
        }

        var md = new StringBuilder();
        md.AppendLine($"### {count:N0} real video files ({runs[0].Videos:N0} distinct videos: files with identical content are one video) through resnet18 into a silo process ({seconds:F0} s each, 320x180, 30 fps, x264 veryfast; `lvmae ingest DIR --encoder resnet18`)");
        md.AppendLine();
        md.AppendLine("Same files, same run, one silo after the other with its default job slots (`MaxConcurrentJobs` = cores / 2); CPU is the silo process and its ffmpeg/ffprobe children.");
        md.AppendLine();
        md.AppendLine("| inference | wall s | segments/s | CPU s per video-hour | peak silo RSS MiB | peak scratch | vs batch 1 (segments/s) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in runs)
            md.AppendLine($"| {r.Setup} | {r.WallSeconds:F0} | {r.SegmentsPerSecond:F2} | {r.CpuSecondsPerVideoHour:F0} | {r.PeakRssMiB:F0} | {r.PeakScratchBytes / 1024.0:F0} KiB | {r.SegmentsPerSecond / runs[0].SegmentsPerSecond:F2}x |");
        return md.ToString();
    }

    private sealed record Latency(double P50, double P99);
    private sealed record LatencyRow(int Corpus, string While, Latency Summary, Latency Video, Latency Page);
    private sealed record Wave(string Name, int Videos, int CorpusAfter, double RegistrationSeconds, double EmbeddedSeconds,
        long StateBytes, long IndexBytes, long TableBytes, LatencyRow Busy)
    {
        public long TotalBytes => StateBytes + IndexBytes + TableBytes;
    }

    private static async Task<Wave> WaveAsync(string name, string dir, string labels, int corpusAfter, Dictionary<string, string> env,
        ExternalSilo silo, HttpClient http, Prober probe, string work)
    {
        var before = await TrafficAsync(http);
        var watch = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var busy = probe.SampleAsync(stop.Token); // queries at a steady rate while the wave registers and processes
        var import = await RunCliAsync(env, work, "import-embeddings", dir, "--labels", labels, "--no-wait", "--parallel", "16");
        var registration = watch.Elapsed.TotalSeconds;
        if (import.Code != 0)
        {
            // Kept for the post-mortem (the work folder goes with the run): the CLI's whole output and the silo's log.
            var keep = Path.Combine(Path.GetTempPath(), $"lvmae-scale-failure-{DateTime.UtcNow:HHmmss}");
            Directory.CreateDirectory(keep);
            File.WriteAllText(Path.Combine(keep, "cli.log"), import.Output);
            if (File.Exists(silo.LogPath)) File.Copy(silo.LogPath, Path.Combine(keep, "silo.log"), overwrite: true);
            throw new InvalidOperationException($"import failed ({import.Code}; CLI output and silo log in {keep}): {Tail(import.Output, 20)}");
        }
        while (true)
        {
            var summary = await http.GetFromJsonAsync<JsonElement>("corpus/summary");
            var byStage = summary.GetProperty("byStage");
            var done = (byStage.TryGetProperty("Embedded", out var e) ? e.GetInt32() : 0) + (byStage.TryGetProperty("Failed", out var f) ? f.GetInt32() : 0);
            if (done >= corpusAfter) break;
            if (silo.HasExited) throw new InvalidOperationException($"the silo died: {ExternalSilo.Tail(silo.LogPath)}");
            await Task.Delay(500);
        }
        var embedded = watch.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        var samples = await busy;
        var after = await TrafficAsync(http);
        long Delta(string category) => after.GetValueOrDefault(category) - before.GetValueOrDefault(category);
        var videos = Directory.GetFiles(dir, "*.npy").Length;
        Console.WriteLine($"scale: {name}: {videos:N0} registered in {registration:F1} s, all Embedded after {embedded:F1} s");
        return new Wave(name, videos, corpusAfter, registration, embedded, Delta("grain state"), Delta("index"), Delta("tables"),
            samples.ToRow(corpusAfter, "importing"));
    }

    private static async Task<Dictionary<string, long>> TrafficAsync(HttpClient http)
    {
        var body = await http.GetFromJsonAsync<JsonElement>("silo/storage");
        return body.GetProperty("categories").EnumerateArray()
            .ToDictionary(c => c.GetProperty("category").GetString()!, c => c.GetProperty("bytesWritten").GetInt64());
    }

    /// <summary>HTTP status queries against the silo's API: summary, one (random, finished) video, a filtered page.</summary>
    private sealed class Prober(HttpClient http, int knownIds)
    {
        private readonly Random _rng = new(11);
        private readonly List<string> _ids = [];

        public sealed class Samples
        {
            public readonly List<double> Summary = [], Video = [], Page = [];
            public LatencyRow ToRow(int corpus, string what) => new(corpus, what, Percentiles(Summary), Percentiles(Video), Percentiles(Page));
        }

        /// <summary>About 30 queries a second of each kind until cancelled.</summary>
        public async Task<Samples> SampleAsync(CancellationToken stop)
        {
            var samples = new Samples();
            while (!stop.IsCancellationRequested)
            {
                try { await OneRoundAsync(samples); }
                catch (HttpRequestException) { }
                try { await Task.Delay(30, stop); } catch (OperationCanceledException) { }
            }
            return samples;
        }

        public async Task<LatencyRow> IdleAsync(int corpus)
        {
            var samples = new Samples();
            for (var i = 0; i < 400; i++) await OneRoundAsync(samples);
            return samples.ToRow(corpus, "idle");
        }

        private async Task OneRoundAsync(Samples samples)
        {
            samples.Summary.Add(await TimeAsync("corpus/summary"));
            var page = $"videos?state=Embedded&label=class%3D{_rng.Next(Classes)}&limit=100";
            var watch = Stopwatch.StartNew();
            var body = await http.GetFromJsonAsync<JsonElement>(page);
            samples.Page.Add(watch.Elapsed.TotalMilliseconds);
            if (_ids.Count < knownIds)
                foreach (var item in body.GetProperty("items").EnumerateArray()) if (_ids.Count < knownIds) _ids.Add(item.GetProperty("id").GetString()!);
            if (_ids.Count > 0) samples.Video.Add(await TimeAsync($"videos/{_ids[_rng.Next(_ids.Count)]}"));
        }

        private async Task<double> TimeAsync(string path)
        {
            var watch = Stopwatch.StartNew();
            using var response = await http.GetAsync(path);
            response.EnsureSuccessStatusCode();
            await response.Content.LoadIntoBufferAsync();
            return watch.Elapsed.TotalMilliseconds;
        }

        private static Latency Percentiles(List<double> ms)
        {
            if (ms.Count == 0) return new Latency(double.NaN, double.NaN);
            ms.Sort();
            return new Latency(ms[(int)(0.50 * (ms.Count - 1))], ms[(int)(0.99 * (ms.Count - 1))]);
        }
    }

    /// <summary>Two folders of &lt;id&gt;.npy (12-60 segments x 64-d float32, seeded) and one labels CSV (class, split) for all.</summary>
    internal static (string WaveA, string WaveB, string Labels) Generate(string work, int total, int firstWave)
    {
        var (a, b) = (Path.Combine(work, "wave1"), Path.Combine(work, "wave2"));
        Directory.CreateDirectory(a);
        Directory.CreateDirectory(b);
        var labels = Path.Combine(work, "labels.csv");
        var csv = new StringBuilder("videoId,class,split\n");
        for (var i = 0; i < total; i++)
            csv.Append($"scale{i:D6},{i % Classes},{(i % 5 == 0 ? "test" : "train")}\n");
        File.WriteAllText(labels, csv.ToString());
        Parallel.For(0, total, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var rng = new Random(i);
            var rows = 12 + rng.Next(49);
            var values = new float[rows * Dim];
            for (var k = 0; k < values.Length; k++) values[k] = (float)(rng.NextDouble() * 2 - 1);
            NpyArray.FromFloats(values, rows, Dim).Write(Path.Combine(i < firstWave ? a : b, $"scale{i:D6}.npy"));
        });
        return (a, b, labels);
    }

    /// <summary>A silo process of its own cluster and container on <paramref name="azurite"/>.</summary>
    internal static Dictionary<string, string> SiloSettings(AzuriteFixture azurite, string name) => new()
    {
        ["Storage__ConnectionString"] = azurite.ConnectionString,
        ["Storage__Container"] = name,
        ["Clustering__ClusterId"] = name,
        ["Clustering__ServiceId"] = name,
        ["Logging__MinimumLevel"] = "Warning",
    };

    /// <summary>The `lvmae` CLI's settings for talking to <paramref name="silo"/>.</summary>
    internal static Dictionary<string, string> ClientSettings(Dictionary<string, string> siloSettings, ExternalSilo silo) => new(siloSettings)
    {
        ["Clustering__GatewayPort"] = silo.GatewayPort.ToString(CultureInfo.InvariantCulture),
        ["Clustering__SiloPort"] = silo.SiloPort.ToString(CultureInfo.InvariantCulture),
    };

    internal static Task<(int Code, string Output)> RunCliAsync(IReadOnlyDictionary<string, string> env, string work, params string[] args) =>
        new CliProcess(work, CliProcess.Settings(env)).RunRawAsync(TimeSpan.FromMinutes(60), args);

    private static string Tail(string text, int lines) => CliProcess.Tail(text, lines);
}
