using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using LvMae.Contracts;
using LvMae.Corpus;
using LvMae.Grains.Ingestion;
using LvMae.Model.Probing;
using LvMae.Model.Training;
using LvMae.Pipeline;
using LvMae.Silo;
using LvMae.Storage;
using Microsoft.Extensions.Logging;

namespace LvMae.Demo;

/// <summary>
/// `lvmae demo` end to end: generate the synthetic corpus (reused when the work directory already holds it), start
/// Azurite and an in-process silo, ingest every video through the video grains (blob storage, ffmpeg, the segment
/// encoder), load the segment embeddings back from blob, pre-train one LV-MAE model per masking strategy, probe raw
/// embeddings and LV-MAE features on the corpus's split, retrieve captions for reconstructed segments, and write the
/// report (markdown + PNG plots + results.json) into the work directory.
/// </summary>
/// <remarks>
/// Training runs in this process on a dedicated thread (src/Model's Trainer fed by src/Pipeline's TrainingFeed over the
/// embedding blobs), not through the training grain: the demo needs one model per masking, every step's loss for the
/// curves, and the corpus's own train/test split for the probes.
/// </remarks>
public sealed class DemoRunner(DemoOptions options, IDemoConsole? console = null)
{
    private readonly IDemoConsole _console = console ?? new SilentDemoConsole();
    private readonly List<PhaseTiming> _timings = [];
    private readonly List<string> _notes = [];

    public DemoOptions Options { get; } = options;
    public string CorpusDirectory => Path.Combine(Options.WorkDirectory, "corpus");
    public string AzuriteDirectory => Path.Combine(Options.WorkDirectory, "azurite");
    public string ReportDirectory => Path.Combine(Options.WorkDirectory, "report");

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
            var az = await LocalAzurite.StartAsync(FreePort(), AzuriteDirectory);
            b.Value = 1;
            var settings = new LvMaeSiloSettings
            {
                Storage = new StorageOptions { ConnectionString = az.ConnectionString, Container = Options.Container },
                Clustering = new ClusteringOptions { SiloPort = FreePort(), GatewayPort = FreePort(), ClusterId = "lvmae-demo", ServiceId = "lvmae-demo" },
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

            // 3. Ingestion through the video grains.
            var ids = await TimedAsync("ingest", () => IngestAsync(corpus, blobs, silo.Grains, cancellationToken),
                ids => $"{ids.Count} videos, encoder {Options.Encoder}, {silo.Settings.Processing.MaxConcurrentJobs} job(s)");

            // 4. Embeddings back from blob.
            var loader = new CachingEmbeddingLoader(new BlobEmbeddingLoader(blobs.Container), 1L << 30);
            var (videos, dim) = await TimedAsync("load embeddings", () => LoadAsync(corpus, ids, loader, cancellationToken),
                r => $"{r.Videos.Sum(v => v.Segments)} segments, {r.Dim}-d");
            var train = videos.Where(v => !v.IsTest).ToList();
            var test = videos.Where(v => v.IsTest).ToList();
            if (train.Count == 0 || test.Count == 0) throw new InvalidOperationException("the corpus split has no train or no test videos");
            var columns = Columns(corpus);

            // 5. Pre-training, one model per masking.
            TorchSharp.torch.set_num_threads(Options.TorchThreads);
            var models = new List<(string Masking, Trainer Trainer)>();
            var curves = new List<TrainingCurve>();
            try
            {
                foreach (var masking in Options.Maskings)
                {
                    var (trainer, curve) = await TimedAsync($"pre-train ({masking})", () => _console.PhaseAsync($"pre-train LV-MAE ({masking} masking)", async bar =>
                    {
                        var b = bar($"{masking}: step 0/{Options.Steps}", Options.Steps);
                        return await DemoExperiment.TrainAsync(train, dim, masking, Options, Options.Encoder, loader, r =>
                        {
                            b.Value = r.Step;
                            if (r.Step % 10 == 0 || r.Step == Options.Steps) b.Description = $"{masking}: step {r.Step}/{Options.Steps}, loss {r.Loss:0.0000}";
                        }, cancellationToken);
                    }), r => $"{Options.Steps} steps, {r.Curve.StepsPerSecond:0.0} steps/s, preset {Options.Preset}");
                    models.Add((masking, trainer));
                    curves.Add(curve);
                }

                // 6. Probes.
                var rows = await TimedAsync("probe", () => _console.PhaseAsync("probe: raw embeddings vs LV-MAE features", bar =>
                    Task.Run(() => ProbeAll(train, test, dim, columns, models, bar, cancellationToken), cancellationToken)),
                    r => $"{r.Count} rows x {columns.Count} columns, {Options.ProbeSeeds} seed(s)");

                // 7. Caption retrieval.
                var retrieval = await TimedAsync("caption retrieval", () => _console.PhaseAsync("caption retrieval of reconstructions", bar =>
                    Task.Run(() =>
                    {
                        var b = bar("reconstruct masked test segments", models.Count);
                        var captions = DemoExperiment.Captions(train, dim);
                        var list = new List<RetrievalSummary>();
                        foreach (var (masking, trainer) in models)
                        {
                            list.Add(DemoExperiment.Retrieve(trainer.Model, masking, test, captions, dim, Options.RetrievalExamples, Options.Seed, Options.MaskRatio, train));
                            b.Value++;
                        }
                        return list;
                    }, cancellationToken)), _ => null);

                _notes.Add("Pre-training ran in this process on a dedicated thread (src/Model Trainer, batches from src/Pipeline's TrainingFeed over the " +
                           "embedding blobs), one model per masking strategy, on the training split only; the ingestion went through the silo's video grains.");
                foreach (var retry in DemoExperiment.Retries) _notes.Add($"A libtorch error was retried once (TorchGuard): {retry}");
                _notes.Add($"Masking ratio: {(Options.MaskRatio is { } ratio ? ratio.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) : "the strategy's default (random 0.4, semantic 0.5)")}; " +
                           $"warm-up {Options.WarmupFraction:P0} of the steps, cosine decay; libtorch threads {Options.TorchThreads}.");
                var setup = new DemoSetup(
                    Options.Quick ? "quick" : "default", corpus.Fingerprint, videos.Count, train.Count, test.Count, videos.Sum(v => v.Segments),
                    corpus.Videos.Sum(v => v.DurationSeconds) / 3600, Options.Encoder, dim, Options.Preset, Options.Steps, Options.BatchSize,
                    Options.LearningRate, Options.ProbeSeeds, DemoExperiment.DescribeProbes(Options), machine, Options.Quick);

                // 8. Report.
                var result = new DemoResult(setup, columns, rows, curves, retrieval, _timings, _notes);
                var watch = Stopwatch.StartNew();
                var cpu = CpuTime();
                DemoReportWriter.Write(result, ReportDirectory);
                _timings.Add(new PhaseTiming("report", watch.Elapsed, ReportDirectory, CpuTime() - cpu));
                var files = DemoReportWriter.Write(result with { Timings = _timings.ToList() }, ReportDirectory); // again, with its own timing
                return result with { Timings = _timings.ToList(), ReportFiles = files };
            }
            finally
            {
                foreach (var (_, trainer) in models) trainer.Dispose();
                // Finalise every stray TorchSharp handle now, while libtorch is certainly alive, not during process exit
                // (one run under heavy load ended in a segfault at exit).
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
            }
        }
        finally
        {
            await silo.DisposeAsync();
            await azurite.DisposeAsync();
        }
    }

    private IReadOnlyList<ProbeRow> ProbeAll(
        IReadOnlyList<DemoVideo> train, IReadOnlyList<DemoVideo> test, int dim, IReadOnlyList<LabelColumn> columns,
        IReadOnlyList<(string Masking, Trainer Trainer)> models, Func<string, double, IDemoBar> bar, CancellationToken ct)
    {
        var classification = columns.Count(c => !c.IsRegression);
        var regression = columns.Count(c => c.IsRegression);
        var total = 3 * classification + regression + models.Count * (2 * classification + regression);
        var b = bar("probes", total);
        void Tick(string what) { b.Value++; b.Description = what; }

        var rows = new List<ProbeRow>();
        var rawTrain = ProbeSet.Raw(train.Select(v => v.Embeddings).ToList(), dim);
        var rawTest = ProbeSet.Raw(test.Select(v => v.Embeddings).ToList(), dim);
        rows.AddRange(DemoExperiment.Probe("raw", null, rawTrain, rawTest, train, test, columns, Options, Tick, ct));
        foreach (var (masking, trainer) in models)
        {
            var encTrain = ProbeSet.FromEncoder(trainer.Model, train.Select(v => v.Embeddings).ToList(), dim);
            var encTest = ProbeSet.FromEncoder(trainer.Model, test.Select(v => v.Embeddings).ToList(), dim);
            rows.AddRange(DemoExperiment.Probe("lv-mae", masking, encTrain, encTest, train, test, columns, Options, Tick, ct));
        }
        b.Value = b.MaxValue;
        return rows;
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
                    $"activity={video.Activity}", $"first_step={video.FirstStep}", $"num_steps={video.NumSteps}", $"split={video.Split}",
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

    /// <summary>Every video's embeddings from blob, with labels and the true step of each segment.</summary>
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
            var labels = new Dictionary<string, string>
            {
                ["activity"] = v.Activity,
                ["first_step"] = v.FirstStep,
                ["num_steps"] = v.NumSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            videos[i] = new DemoVideo(v.VideoId, ids[v.VideoId], v.Split, loaded.Values.AsSpan(0, n * loaded.Dimension).ToArray(), n, labels,
                v.KeyStepSeconds, truth.Take(n).Select(t => t.Step).ToList());
            lock (dims) dims.Add(loaded.Dimension);
        });
        if (dims.Count != 1) throw new InvalidDataException($"embeddings of different widths: {string.Join(", ", dims)}");
        return (videos, dims.Single());
    }

    /// <summary>The corpus's label columns, in labels.csv order.</summary>
    public static IReadOnlyList<LabelColumn> Columns(CorpusManifest corpus) =>
        corpus.Labels.Select(l => new LabelColumn(l.Column, l.Kind, l.Classes, l.ExpectedChance, l.MajorityBaseline, l.BagOfSegmentsSolvable)).ToList();

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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}
