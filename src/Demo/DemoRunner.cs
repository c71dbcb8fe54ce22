using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Corpus;
using LvMae.Grains.Training;
using LvMae.Runs;
using LvMae.Model;
using LvMae.Model.Retrieval;
using LvMae.Model.Training;
using LvMae.Pipeline;
using LvMae.Silo;
using LvMae.Storage;
using Microsoft.Extensions.Logging;

namespace LvMae.Demo;

/// <summary>
/// `lvmae demo` end to end, through the product: generate the synthetic corpus (reused when the work directory already
/// holds it), start Azurite and an in-process silo, ingest every video through the video grains (blob storage, ffmpeg,
/// the segment encoder), pre-train one training run per masking strategy and pre-training seed (<see cref="ITrainingRunGrain"/>: the Dataflow
/// feed over the corpus index, the train and pretrain splits only unless told to pre-train on held-out videos' embeddings too, the
/// library's default schedule), let each run probe itself at the end (<see cref="RunProber"/>: majority, raw and LV-MAE
/// probes over several seeds) and export (<see cref="RunExporter"/>),
/// retrieve captions for reconstructed segments with each run's final checkpoint, and write the report (markdown + PNG
/// plots + results.json) from the runs' metrics and probe scores into the work directory.
/// </summary>
public sealed class DemoRunner(DemoOptions options, IDemoConsole? console = null)
{
    private readonly IDemoConsole _console = console ?? new SilentDemoConsole();
    private readonly List<PhaseTiming> _timings = [];
    private readonly List<string> _notes = [];

    public DemoOptions Options { get; } = options;
    public string CorpusDirectory => Path.Combine(Options.WorkDirectory, "corpus");
    public string AzuriteDirectory => Path.Combine(Options.WorkDirectory, "azurite");
    public string ReportDirectory => Path.Combine(Options.WorkDirectory, "report");

    /// <summary>The corpus's regression label (seconds of its key step), probed by the regression probe.</summary>
    public const string RegressionColumn = "key_step_seconds";

    /// <summary>The training run of one masking strategy and pre-training seed.</summary>
    public static string RunName(string masking, int seed) => $"demo-{masking}-s{seed}";

    public async Task<DemoResult> RunAsync(CancellationToken cancellationToken = default)
    {
        Options.Validate();
        Directory.CreateDirectory(Options.WorkDirectory);
        var machine = Machine();

        // 1. Corpus.
        var spec = Options.CorpusParallelism is { } p ? Options.Corpus with { Parallelism = p } : Options.Corpus;
        var corpus = await TimedAsync("corpus", () => _console.PhaseAsync("generate the synthetic corpus", async bar =>
        {
            var b = bar($"render {spec.VideoCount} videos (ffmpeg)", spec.VideoCount);
            var manifest = await SyntheticCorpus.GenerateAsync(CorpusDirectory, spec,
                new Progress<CorpusProgress>(pr => { b.Value = pr.Completed; b.Description = $"render videos ({pr.Reused} reused)"; }), cancellationToken);
            b.Value = b.MaxValue;
            return manifest;
        }), m => $"{m.Videos.Count} videos in {CorpusDirectory}");

        // 2. Storage + silo.
        var (azurite, silo) = await TimedAsync("azurite + silo", () => _console.PhaseAsync("start Azurite and a local silo", async bar =>
        {
            var b = bar("Azurite + Orleans silo", 2);
            var az = await LocalAzurite.StartAsync(LoopbackPort.Free(), AzuriteDirectory);
            b.Value = 1;
            var settings = new LvMaeSiloSettings
            {
                Storage = new StorageOptions { ConnectionString = az.ConnectionString, Container = Options.Container },
                Clustering = new ClusteringOptions { SiloPort = LoopbackPort.Free(), GatewayPort = LoopbackPort.Free(), ClusterId = "lvmae-demo", ServiceId = "lvmae-demo" },
                Api = new ApiOptions { Enabled = false, Dashboard = false },
                Logging = new HostLoggingOptions { MinimumLevel = LogLevel.Error, OrleansLevel = LogLevel.Error },
            };
            settings.Processing.WorkDirectory = Path.Combine(Options.WorkDirectory, "scratch");
            if (Options.Jobs is { } jobs) settings.Processing.MaxConcurrentJobs = jobs;
            try
            {
                var host = await LvMaeSiloHost.StartAsync(settings, cancellationToken);
                b.Value = 2;
                return (az, host);
            }
            catch
            {
                await az.DisposeAsync();
                throw;
            }
        }), _ => null);

        try
        {
            var blobs = new BlobStore(azurite.ConnectionString, Options.Container);

            // 3. Ingestion through the video grains (labels, split included, ride along into the index).
            var ids = await TimedAsync("ingest", () => IngestAsync(corpus, blobs, silo.Grains, cancellationToken),
                ids => $"{ids.Count} videos, encoder {Options.Encoder}, {silo.Settings.Processing.MaxConcurrentJobs} job(s)");

            // 4. Pre-training + probes + export: one training run per masking and seed, all at once (one libtorch thread each).
            var runs = await TimedAsync("train + probe + export", () => TrainAsync(silo.Grains, cancellationToken),
                r => $"{r.Count} runs at once ({Options.Maskings.Count} masking(s) x {Options.PretrainingSeeds.Count} pre-training seed(s)), {Options.Steps} steps each, preset {Options.Preset}, {Options.ProbeSeeds} probe seed(s)");
            var curves = new List<TrainingCurve>();
            foreach (var (masking, seed, progress, elapsed) in runs)
            {
                var history = await new RunMetricsLog(blobs, progress.Run).ReadAsync(cancellationToken);
                curves.Add(new TrainingCurve(RunLabel(masking, seed), history.Steps.Select(x => x.Step).ToArray(), history.Steps.Select(x => x.Loss).ToArray(), elapsed));
            }

            // 5. Caption retrieval with each run's final checkpoint (the embeddings and the true steps come from blob and the corpus).
            var loader = new CachingEmbeddingLoader(new BlobEmbeddingLoader(blobs.Container), 1L << 30);
            var (videos, dim) = await TimedAsync("load embeddings", () => LoadAsync(corpus, ids, loader, cancellationToken),
                r => $"{r.Videos.Sum(v => v.Segments)} segments, {r.Dim}-d");
            var retrieval = await TimedAsync("caption retrieval", () => _console.PhaseAsync("caption retrieval of reconstructions", async bar =>
            {
                // Every pre-training seed's model: the report gives mean ± sd over them, as for the probes.
                var b = bar("reconstruct masked test segments", runs.Count);
                var checkpoints = new List<(string Masking, int Seed, byte[] Bytes)>();
                foreach (var (masking, seed, progress, _) in runs)
                    checkpoints.Add((masking, seed, (await new CheckpointStore(blobs, progress.Run).LoadAsync(progress.LatestCheckpointStep, cancellationToken)).Checkpoint));
                return await Task.Run(() =>
                {
                    var train = videos.Where(v => v.Role == SplitRole.Train).ToList();
                    var test = videos.Where(v => v.Role == SplitRole.Test).ToList();
                    var captions = DemoRetrieval.Captions(train, dim);
                    var summaries = new List<RetrievalSummary>();
                    foreach (var (masking, seed, bytes) in checkpoints)
                    {
                        using var model = ModelWeights.LoadModel(Checkpoint.ExtractWeights(bytes), TorchDevice.Resolve("cpu"));
                        // The same masks for every seed (Options.Seed): the seeds differ only in their models.
                        summaries.Add(DemoRetrieval.Retrieve(model, masking, test, captions, dim, Options.RetrievalExamples, Options.Seed, ReconstructionRetrieval.EvaluationMaskRatio, train) with { PretrainingSeed = seed });
                        b.Value++;
                    }
                    return summaries;
                }, cancellationToken);
            }), r => $"{r.Count} model(s)");

            var columns = Columns(corpus);
            var perMasking = runs.GroupBy(r => r.Masking).Select(g => (Masking: g.Key, Probes: OverSeeds(g.Select(r => r.Progress.Probes).ToList()))).ToList();
            var rows = Rows(perMasking, columns);
            var claims = perMasking.SelectMany(m => ProbeVerdict.Compare(m.Probes).Select(c => new DemoClaim(m.Masking, c))).ToList();
            var first = runs[0].Progress;
            _notes.Add($"Masking ratio: {string.Join(", ", Options.Maskings.Select(m => $"{m} {(Options.MaskRatioFor(m) is { } ratio ? ratio.ToString("0.##", CultureInfo.InvariantCulture) : "(the strategy's default)")}"))}; " +
                       $"libtorch threads {Options.TorchThreads} per run; window {first.Config?.Window}; {DemoReport.PretrainingScope(Options.PretrainOnHeldOut)} (the held-out rule: the `split` label).");
            var setup = new DemoSetup(
                Options.Quick ? "quick" : "default", corpus.Fingerprint, videos.Count, videos.Count(v => v.Role == SplitRole.Train), videos.Count(v => v.Role == SplitRole.Test),
                videos.Sum(v => v.Segments), corpus.Videos.Sum(v => v.DurationSeconds) / 3600, Options.Encoder, dim, Options.Preset, Options.Steps, Options.BatchSize,
                first.Schedule?.ToString() ?? "?", Options.ProbeSeeds, DescribeProbes(), machine, Options.Quick, Options.PretrainOnHeldOut)
            {
                ValVideos = videos.Count(v => v.Role == SplitRole.Val),
                PretrainVideos = videos.Count(v => v.Role == SplitRole.Pretrain),
                PretrainingSeeds = Options.PretrainingSeeds.Count,
            };
            var demoRuns = runs.Select(r => new DemoRun(r.Masking, r.Progress.Run, r.Progress.Schedule?.ToString() ?? "?", r.Progress.Step, r.Progress.Device, r.Progress.Export, r.Seed)).ToList();

            // 6. Report.
            var result = new DemoResult(setup, columns, rows, claims, demoRuns, curves, retrieval, _timings, _notes);
            var watch = Stopwatch.StartNew();
            var cpu = CpuTime();
            DemoReportWriter.Write(result, ReportDirectory);
            _timings.Add(new PhaseTiming("report", watch.Elapsed, ReportDirectory, CpuTime() - cpu));
            var files = DemoReportWriter.Write(result with { Timings = _timings.ToList() }, ReportDirectory); // again, with its own timing
            return result with { Timings = _timings.ToList(), ReportFiles = files };
        }
        finally
        {
            await silo.DisposeAsync();
            await azurite.DisposeAsync();
            // Finalise every stray TorchSharp handle now, while libtorch is certainly alive, not during process exit.
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    /// <summary>"random s1": one run in the report's run list, loss table and plot.</summary>
    public static string RunLabel(string masking, int seed) => $"{masking} s{seed}";

    /// <summary>The run config of one masking and pre-training seed: the product's defaults except what the demo's options say.</summary>
    public TrainingRunConfig RunConfig(string masking, int seed) => new()
    {
        Preset = Options.Preset,
        Masking = masking,
        MaskRatio = Options.MaskRatioFor(masking),
        Steps = Options.Steps,
        Lr = Options.LearningRate,
        Encoder = Options.Encoder,
        BatchSize = Options.BatchSize,
        Seed = seed,
        ProbeEvery = 0,                 // probe once, at the end
        RegressionColumns = [RegressionColumn],
        CheckpointEvery = Math.Max(1, Options.Steps / 4),
        ProbeSeeds = Options.ProbeSeeds,
        TrainOnHeldOut = Options.PretrainOnHeldOut,
        ProbeEpochs = Options.ProbeEpochs,
        TorchThreads = Options.TorchThreads,
        Device = "cpu",
    };

    /// <summary>Starts every masking's run per pre-training seed (a run of that name from an earlier demo in this work
    /// directory is deleted first), follows them until trained, probed and exported.</summary>
    private Task<List<(string Masking, int Seed, TrainingProgress Progress, TimeSpan Elapsed)>> TrainAsync(IGrainFactory grains, CancellationToken ct) =>
        _console.PhaseAsync($"pre-train, probe and export {Options.Maskings.Count * Options.PretrainingSeeds.Count} training run(s)", async bar =>
        {
            var keys = Options.Maskings.SelectMany(m => Options.PretrainingSeeds.Select(s => (Masking: m, Seed: s))).ToList();
            var bars = keys.ToDictionary(k => k, k => bar($"{RunName(k.Masking, k.Seed)}: step 0/{Options.Steps}", Options.Steps));
            foreach (var (masking, seed) in keys)
            {
                var run = grains.GetGrain<ITrainingRunGrain>(RunName(masking, seed));
                if ((await run.GetProgress()).State != TrainingState.None) await run.Delete();
            }
            var watch = Stopwatch.StartNew();
            var started = new List<((string Masking, int Seed) Key, ITrainingRunGrain Run)>();
            foreach (var key in keys)
            {
                var run = grains.GetGrain<ITrainingRunGrain>(RunName(key.Masking, key.Seed));
                await run.Start(RunConfig(key.Masking, key.Seed));
                started.Add((key, run));
            }
            var trainedAt = new Dictionary<(string, int), TimeSpan>();
            var exporting = new HashSet<(string, int)>();
            var done = new Dictionary<(string, int), TrainingProgress>();
            while (done.Count < started.Count)
            {
                ct.ThrowIfCancellationRequested();
                foreach (var (masking, run) in started.Where(s => !done.ContainsKey(s.Key)))
                {
                    var p = await run.GetProgress();
                    var b = bars[masking];
                    b.Value = p.Step;
                    b.Description = p.State == TrainingState.Training
                        ? $"{p.Run}: step {p.Step}/{p.TotalSteps}, loss {p.Loss?.ToString("0.0000", CultureInfo.InvariantCulture) ?? "-"}"
                        : $"{p.Run}: {p.State}{(p.Probing ? ", probing" : "")}{(p.Exporting ? ", exporting" : "")}";
                    if (p.State is TrainingState.Failed or TrainingState.Stopped)
                        throw new InvalidOperationException($"training run {p.Run} {p.State}: {p.Message}");
                    if (p.State != TrainingState.Done || p.Probing) continue;
                    trainedAt.TryAdd(masking, watch.Elapsed);
                    if (exporting.Add(masking)) { await run.Export(); continue; }
                    if (!p.Exporting && p.Export is not null) done[masking] = p;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            }
            foreach (var (_, p) in done)
                if (p.Export?.Error is { } error) _notes.Add($"{p.Run}: export failed: {error}");
            return started.Select(s => (s.Key.Masking, s.Key.Seed, done[s.Key], trainedAt[s.Key])).ToList();
        });

    /// <summary>
    /// One masking's runs (one per pre-training seed) as one list of scores: each LV-MAE and step-0 cell is the mean over the
    /// runs of their final per-run means, its sd the sd over pre-training seeds (<see cref="ProbeScore.Seeds"/> = runs); the
    /// data-only rows (majority, raw) are the first run's, with their probe-seed sd. One run: its final scores as they are.
    /// </summary>
    public static IReadOnlyList<ProbeScore> OverSeeds(IReadOnlyList<IReadOnlyList<ProbeScore>> runs)
    {
        static List<ProbeScore> Final(IEnumerable<ProbeScore> scores) =>
            scores.GroupBy(s => (s.Column, s.Features, s.Probe)).Select(g => g.OrderBy(s => s.Step).Last()).ToList();
        var first = Final(runs[0]);
        if (runs.Count == 1) return first;
        static double? Mean(IReadOnlyList<double?> xs) => xs.All(x => x is not null) ? xs.Average(x => x!.Value) : null;
        static double? Sd(IReadOnlyList<double?> xs)
        {
            if (xs.Any(x => x is null) || xs.Count < 2) return null;
            var mean = xs.Average(x => x!.Value);
            return Math.Sqrt(xs.Sum(x => (x!.Value - mean) * (x.Value - mean)) / (xs.Count - 1));
        }
        var result = first.Where(s => s.Features is ProbeScore.Majority or ProbeScore.Raw).ToList();
        foreach (var g in runs.SelectMany(Final).Where(s => s.Features is ProbeScore.LvMae or ProbeScore.Untrained).GroupBy(s => (s.Column, s.Features, s.Probe)))
        {
            var xs = g.ToList();
            var top1 = xs.Select(x => x.Top1).ToList();
            var mse = xs.Select(x => x.Mse).ToList();
            result.Add(xs[0] with
            {
                Top1 = Mean(top1), Top1Sd = Sd(top1), Mse = Mean(mse), MseSd = Sd(mse),
                ValTop1 = Mean(xs.Select(x => x.ValTop1).ToList()), Seeds = xs.Count,
            });
        }
        return result;
    }

    /// <summary>The table: the majority baseline and the raw rows (data-only, the same in every run) from the first run,
    /// then every run's LV-MAE rows. A regression column's cell sits in the linear row (its probe is linear on the mean pool).</summary>
    public static IReadOnlyList<ProbeRow> Rows(IReadOnlyList<(string Masking, IReadOnlyList<ProbeScore> Probes)> runs, IReadOnlyList<LabelColumn> columns)
    {
        ProbeRow Row(string features, string? masking, string probe, IReadOnlyList<ProbeScore> scores)
        {
            var cells = new List<ProbeCell>();
            foreach (var column in columns)
            {
                var wanted = column.IsRegression && probe == "linear" ? "regression" : probe;
                if (scores.FirstOrDefault(s => s.Column == column.Column && s.Features == features && s.Probe == wanted) is { } s)
                    cells.Add(new ProbeCell(column.Column, s.Top1, s.Top1Sd, s.Mse, s.MseSd, s.Seeds));
            }
            return new ProbeRow(features, masking, probe, cells);
        }
        var first = runs[0].Probes;
        var rows = new List<ProbeRow> { Row(ProbeScore.Majority, null, "baseline", first) };
        rows.AddRange(new[] { "linear", "attentive", "attentive+pos" }.Select(probe => Row(ProbeScore.Raw, null, probe, first)));
        foreach (var (masking, probes) in runs)
        {
            rows.AddRange(new[] { "linear", "attentive", "attentive+pos" }.Select(probe => Row(ProbeScore.Untrained, masking, probe, probes)));
            rows.AddRange(new[] { "linear", "attentive", "attentive+pos" }.Select(probe => Row(ProbeScore.LvMae, masking, probe, probes)));
        }
        return rows;
    }

    private string DescribeProbes()
    {
        var l = LvMae.Model.Probing.ProbeOptions.Linear();
        var a = LvMae.Model.Probing.ProbeOptions.Attentive();
        return $"linear/regression Adam lr {l.Lr:g3}, {Options.ProbeEpochs ?? l.Epochs} epochs; attentive Adam lr {a.Lr:g3}, gamma {a.Gamma}, {Options.ProbeEpochs ?? a.Epochs} epochs; " +
               $"batch {l.BatchSize}; inputs standardised per dimension with train statistics (regression targets too)";
    }

    /// <summary>Uploads and registers every corpus video (content-hash ids), then follows the grains until all are embedded.</summary>
    private Task<IReadOnlyDictionary<string, string>> IngestAsync(CorpusManifest corpus, BlobStore blobs, IGrainFactory grains, CancellationToken ct) =>
        _console.PhaseAsync($"ingest through the silo ({Options.Encoder} encoder)", async bar =>
        {
            var upload = bar("upload + register", corpus.Videos.Count);
            var embedded = bar("videos embedded", corpus.Videos.Count);
            var expectedSegments = corpus.Videos.Sum(v => v.SegmentSteps().Count);
            var segments = bar("segments encoded", expectedSegments);
            var ingestor = new VideoIngestor(blobs, grains);
            var ids = new Dictionary<string, string>(StringComparer.Ordinal);
            var segmentsOf = new Dictionary<string, int>(StringComparer.Ordinal);
            await Parallel.ForEachAsync(corpus.Videos, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (video, c) =>
            {
                string[] labels =
                [
                    $"activity={video.Activity}", $"first_step={video.FirstStep}", $"num_steps={video.NumSteps}",
                    $"{RegressionColumn}={video.KeyStepSeconds.ToString("0.###", CultureInfo.InvariantCulture)}", $"split={video.Split}",
                ];
                var result = await ingestor.IngestFileAsync(corpus.VideoPath(CorpusDirectory, video.VideoId), Options.Encoder, labels, c);
                lock (ids)
                {
                    ids[video.VideoId] = result.VideoId;
                    segmentsOf[result.VideoId] = video.SegmentSteps().Count;
                    upload.Value++;
                }
            });

            var pending = ids.Values.Distinct().ToList();
            var failures = new List<string>();
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                var statuses = await Task.WhenAll(pending.Select(id => grains.GetGrain<IVideoGrain>(id).GetStatus()));
                var done = statuses.Count(s => s.Stage == VideoStage.Embedded && s.EmbeddedEncoders.Contains(Options.Encoder));
                embedded.Value = done;
                segments.Value = statuses.Sum(s => s.Stage == VideoStage.Embedded ? segmentsOf[s.Id] : s.Progress * segmentsOf[s.Id]);
                failures = statuses.Where(s => s.Stage == VideoStage.Failed).Select(s => $"{s.OriginalName ?? s.Id}: {s.Failure?.Message}").ToList();
                if (statuses.All(s => s.Stage is VideoStage.Embedded or VideoStage.Failed)) break;
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            }
            if (failures.Count > 0)
                throw new InvalidOperationException($"{failures.Count} video(s) failed to ingest: {string.Join("; ", failures.Take(5))}");
            return (IReadOnlyDictionary<string, string>)ids;
        });

    /// <summary>Every video's embeddings from blob, with its split and the true step of each segment (for caption retrieval).</summary>
    private async Task<(IReadOnlyList<DemoVideo> Videos, int Dim)> LoadAsync(CorpusManifest corpus, IReadOnlyDictionary<string, string> ids, IEmbeddingLoader loader, CancellationToken ct)
    {
        var videos = new DemoVideo[corpus.Videos.Count];
        var dims = new HashSet<int>();
        await Parallel.ForEachAsync(Enumerable.Range(0, corpus.Videos.Count), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (i, c) =>
        {
            var v = corpus.Videos[i];
            var loaded = await loader.LoadAsync(new EmbeddedVideoDescriptor(ids[v.VideoId], Options.Encoder), c);
            var truth = v.SegmentSteps();
            var n = loaded.SegmentCount;
            if (truth.Count != n)
            {
                lock (_notes) _notes.Add($"{v.VideoId}: {n} embedded segments but the timeline has {truth.Count}; the shorter is used.");
                n = Math.Min(n, truth.Count);
            }
            var role = RunLabels.SplitOf(ids[v.VideoId], new Dictionary<string, string> { [RunLabels.SplitColumn] = v.Split });
            videos[i] = new DemoVideo(v.VideoId, ids[v.VideoId], role, loaded.Values.AsSpan(0, n * loaded.Dimension).ToArray(), n, truth.Take(n).Select(t => t.Step).ToList());
            lock (dims) dims.Add(loaded.Dimension);
        });
        if (dims.Count != 1) throw new InvalidDataException($"embeddings of different widths: {string.Join(", ", dims)}");
        return (videos, dims.Single());
    }

    /// <summary>The corpus's label columns, in labels.csv order.</summary>
    public static IReadOnlyList<LabelColumn> Columns(CorpusManifest corpus) =>
        corpus.Labels.Select(l => new LabelColumn(l.Column, l.Kind, l.Classes, l.ExpectedChance, l.BagOfSegmentsSolvable)).ToList();

    private async Task<T> TimedAsync<T>(string phase, Func<Task<T>> body, Func<T, string?> detail)
    {
        var watch = Stopwatch.StartNew();
        var cpu = CpuTime();
        var result = await body();
        _timings.Add(new PhaseTiming(phase, watch.Elapsed, detail(result), CpuTime() - cpu));
        return result;
    }

    /// <summary>User + system CPU time of this process and of its waited-for children (/proc/self/stat), or the process's own elsewhere.</summary>
    public static TimeSpan CpuTime()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ": state is field 3, so utime (14), stime (15), cutime (16), cstime (17) are at 11..14.
            var ticks = long.Parse(fields[11]) + long.Parse(fields[12]) + long.Parse(fields[13]) + long.Parse(fields[14]);
            return TimeSpan.FromSeconds(ticks / 100.0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return Process.GetCurrentProcess().TotalProcessorTime;
        }
    }

    public static string Machine()
    {
        var load = "";
        try { load = File.ReadAllText("/proc/loadavg").Split(' ')[0]; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.FrameworkDescription}" +
               (load.Length > 0 ? $", load average {load} at start" : "");
    }
}
