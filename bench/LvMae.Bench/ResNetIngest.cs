using System.Diagnostics;
using System.Globalization;
using System.Text;
using LvMae.Grains;
using LvMae.Media;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>How resnet18 ingestion runs: frames per inference call, threads, concurrent jobs, probes per video.</summary>
public sealed record IngestSetup(string Label, int BatchFrames, MediaThreadBudget? Budget, int Jobs, bool ProbeOnce)
{
    /// <summary>As before issue 16: one frame per call, ffmpeg and ONNX Runtime on every core in each job, every video probed twice.</summary>
    public static IngestSetup Before(int jobs) => new("before: batch 1, ffmpeg + ONNX Runtime on all cores, 2 probes", 1, null, jobs, ProbeOnce: false);

    /// <summary>The default now: batches of <see cref="ResNet18Encoder.DefaultBatchFrames"/>, a thread budget for the jobs, one probe.</summary>
    public static IngestSetup Now(int cores, int jobs) =>
        new($"now: batch {ResNet18Encoder.DefaultBatchFrames}, budget {Describe(MediaThreadBudget.For(cores, jobs))}, 1 probe",
            ResNet18Encoder.DefaultBatchFrames, MediaThreadBudget.For(cores, jobs), jobs, ProbeOnce: true);

    public static string Describe(MediaThreadBudget budget) =>
        $"{budget.DecoderThreads} ffmpeg + {budget.InferenceThreads} ONNX thread(s) per job";

    public EncoderOptions EncoderOptions => new() { BatchFrames = BatchFrames, IntraOpThreads = Budget?.InferenceThreads ?? 0 };
    public FrameSamplingOptions Sampling => new() { DecoderThreads = Budget?.DecoderThreads ?? 0 };
}

/// <summary>One measured ingest of a set of files; CPU of this process (inference, the pipeline) and of its ffmpeg/ffprobe children.</summary>
public sealed record IngestRun(IngestSetup Setup, int Videos, int Segments, double VideoSeconds, double WallSeconds, double ProcessCpuSeconds, double ChildCpuSeconds)
{
    public double SegmentsPerSecond => Segments / WallSeconds;
    public double CpuSecondsPerVideoHour => (ProcessCpuSeconds + ChildCpuSeconds) / (VideoSeconds / 3600);
    public double ChildCpuSecondsPerVideoHour => ChildCpuSeconds / (VideoSeconds / 3600);
}

/// <summary>
/// Real video files through resnet18 the way a silo ingests them: <see cref="MediaWork"/> (the grains' media seam, its
/// encoder pool) behind a <see cref="MediaJobLimiter"/> with the silo's job count, each video probed, planned and
/// encoded. Callable from any suite (media runs it on generated files; scale can run it on its own set).
/// </summary>
public static class ResNetIngest
{
    /// <summary>
    /// <paramref name="count"/> videos of <paramref name="seconds"/> s at width x height, 30 fps, x264 veryfast (B-frames,
    /// keyframe every 250 frames) capped at a web-video bitrate (0.09 bit per pixel: 2.5 Mbit/s at 720p), each a
    /// different lavfi source; generated once and cached under the temp folder.
    /// </summary>
    public static async Task<IReadOnlyList<string>> EnsureVideosAsync(int count, double seconds, int width, int height)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lvmae-bench-ingest");
        Directory.CreateDirectory(dir);
        var kbps = (int)(width * height * 30 * 0.09 / 1000);
        var files = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var source = TestVideos.DistinctSources[i % TestVideos.DistinctSources.Count];
            var path = Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"{i:D2}-{width}x{height}-{seconds:0.#}s-{kbps}k.mp4"));
            if (!File.Exists(path))
            {
                Console.WriteLine($"generating {path} ...");
                var tmp = path + ".tmp.mp4";
                var rate = string.Create(CultureInfo.InvariantCulture, $"{kbps}k");
                await TestVideos.GenerateAsync(tmp, seconds, source, width, 30, new TestVideoOptions
                {
                    Height = height, Preset = "veryfast", ExtraArguments = ["-maxrate", rate, "-bufsize", rate],
                });
                File.Move(tmp, path, overwrite: true);
            }
            files.Add(path);
        }
        return files;
    }

    /// <summary>Ingests every file once under <paramref name="setup"/> (encoders loaded beforehand, not timed).</summary>
    public static async Task<IngestRun> MeasureAsync(IReadOnlyList<string> files, IngestSetup setup, CancellationToken cancellationToken = default)
    {
        using var work = new MediaWork(new ProcessingOptions(), setup.EncoderOptions, setup.Sampling);
        using var limiter = new MediaJobLimiter(setup.Jobs);
        // One encoder per concurrent job, as the pool holds them in a running silo: load them now, off the clock.
        var warmUp = await WarmUpClipAsync();
        await Task.WhenAll(Enumerable.Range(0, setup.Jobs).Select(_ => InSlotAsync(limiter, work, warmUp, setup, cancellationToken)));

        var seconds = 0.0;
        var cpu = CpuClock.Now();
        var watch = Stopwatch.StartNew();
        var videos = await Task.WhenAll(files.Select(f => InSlotAsync(limiter, work, f, setup, cancellationToken)));
        var wall = watch.Elapsed.TotalSeconds;
        var used = await CpuClock.SinceAsync(cpu);
        foreach (var v in videos) seconds += v.Info.DurationSeconds;
        return new IngestRun(setup, videos.Length, videos.Sum(v => v.Segments.Count), seconds, wall, used.Process, used.Children);
    }

    private static async Task<string> WarmUpClipAsync()
    {
        var path = Path.Combine(Path.GetTempPath(), "lvmae-bench-ingest", "warm-up-64px-3s.mp4");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await TestVideos.GenerateAsync(path + ".tmp.mp4", 3, "testsrc2", 64);
        File.Move(path + ".tmp.mp4", path, overwrite: true);
        return path;
    }

    /// <summary>What a video grain does in its job slot: probe, plan, encode (on the thread pool, off the caller).</summary>
    private static async Task<EmbeddedVideo> InSlotAsync(MediaJobLimiter limiter, MediaWork work, string path, IngestSetup setup, CancellationToken ct)
    {
        await using var slot = await limiter.AcquireAsync(ct);
        return await Task.Run(() => IngestAsync(work, path, setup, ct), ct);
    }

    private static async Task<EmbeddedVideo> IngestAsync(MediaWork work, string path, IngestSetup setup, CancellationToken ct)
    {
        var info = await work.InspectAsync(path, ct);
        // "before" (issue 16): the encoding probed the file a second time.
        if (!setup.ProbeOnce) info = await work.InspectAsync(path, ct);
        var plan = work.Plan(info.DurationSeconds, 5.0);
        return await work.EncodeAsync(path, info, plan, "resnet18", 5.0, new Progress<double>(), ct);
    }

    /// <summary>
    /// Each setup <paramref name="rounds"/> times, interleaved (A B C A B C ...) so that load from other jobs on a shared
    /// machine falls on all of them; medians reported, with ratios to the first setup.
    /// </summary>
    public static async Task<(IReadOnlyList<IngestSummary> Summaries, string Markdown)> CompareAsync(IReadOnlyList<string> files, IReadOnlyList<IngestSetup> setups, int rounds)
    {
        var runs = setups.ToDictionary(s => s, _ => new List<IngestRun>());
        for (var r = 0; r < rounds; r++)
            foreach (var setup in setups)
            {
                var run = await MeasureAsync(files, setup);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {r + 1}, {setup.Label} x {setup.Jobs} job(s): {run.SegmentsPerSecond:F2} segments/s, {run.CpuSecondsPerVideoHour:F0} CPU-s per video-hour ({run.ChildCpuSecondsPerVideoHour:F0} in ffmpeg/ffprobe)"));
                runs[setup].Add(run);
            }

        var cores = Environment.ProcessorCount;
        var summaries = setups.Select(s => new IngestSummary(s, runs[s])).ToList();
        var first = summaries[0];
        var md = new StringBuilder();
        md.AppendLine("| Setup | Jobs | Segments/s | Range over rounds | vs first | CPU-s per video-hour (ffmpeg + ffprobe of it) | vs first | Segments/s on dedicated cores (model) | vs first |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var m in summaries)
        {
            var all = m.Runs.Select(r => r.SegmentsPerSecond).ToList();
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {m.Setup.Label} | {m.Setup.Jobs} | {m.SegmentsPerSecond:F2} | {all.Min():F2}-{all.Max():F2} | **{m.SegmentsPerSecond / first.SegmentsPerSecond:F2}x** | {m.CpuSecondsPerVideoHour:F0} ({m.ChildCpuSecondsPerVideoHour:F0}) | {m.CpuSecondsPerVideoHour / first.CpuSecondsPerVideoHour:F2}x | {m.DedicatedSegmentsPerSecond(cores):F1} | {m.DedicatedSegmentsPerSecond(cores) / first.DedicatedSegmentsPerSecond(cores):F2}x |");
        }
        return (summaries, md.ToString());
    }
}

/// <summary>The rounds of one setup: medians of each figure.</summary>
public sealed record IngestSummary(IngestSetup Setup, IReadOnlyList<IngestRun> Runs)
{
    public double SegmentsPerSecond => Median(Runs.Select(r => r.SegmentsPerSecond));
    public double CpuSecondsPerVideoHour => Median(Runs.Select(r => r.CpuSecondsPerVideoHour));
    public double ChildCpuSecondsPerVideoHour => Median(Runs.Select(r => r.ChildCpuSecondsPerVideoHour));

    /// <summary>
    /// A model of the segments/s this setup reaches on <paramref name="cores"/> cores of its own, from its measured CPU
    /// per segment (d: ffmpeg + ffprobe, i: this process, mostly inference): all stages together no faster than the
    /// cores, min(cores / (d + i)), and no stage faster than its threads, jobs x threads / d (or / i). Without a budget
    /// both stages may use every core. It assumes the stages overlap perfectly and threads scale perfectly: an upper bound
    /// that shows what a shared machine's wall times cannot (there, a setup with more threads just takes more of the
    /// machine from other jobs).
    /// </summary>
    public double DedicatedSegmentsPerSecond(int cores)
    {
        var segmentsPerHour = Runs.Sum(r => r.Segments) / Runs.Sum(r => r.VideoSeconds / 3600);
        var d = ChildCpuSecondsPerVideoHour / segmentsPerHour;
        var i = (CpuSecondsPerVideoHour - ChildCpuSecondsPerVideoHour) / segmentsPerHour;
        var decoders = Setup.Jobs * (Setup.Budget?.DecoderThreads ?? cores);
        var inference = Setup.Jobs * (Setup.Budget?.InferenceThreads ?? cores);
        return Math.Min(cores / (d + i), Math.Min(Math.Min(decoders, cores) / d, Math.Min(inference, cores) / i));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}

/// <summary>CPU time of this process plus that of its reaped child processes (ffmpeg, ffprobe).</summary>
public static class CpuClock
{
    public readonly record struct Reading(double Process, double Children);

    public static Reading Now() => new(Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, ChildSeconds());

    /// <summary>CPU seconds used since <paramref name="start"/> (waits a moment for the last children to be reaped).</summary>
    public static async Task<Reading> SinceAsync(Reading start)
    {
        await Task.Delay(200);
        var now = Now();
        return new Reading(now.Process - start.Process, now.Children - start.Children);
    }

    /// <summary>CPU seconds of reaped child processes (getrusage RUSAGE_CHILDREN; Linux only, NaN elsewhere).</summary>
    public static double ChildSeconds()
    {
        if (!OperatingSystem.IsLinux()) return double.NaN;
        var usage = new long[18]; // struct rusage: ru_utime, ru_stime (timeval = 2 longs each), 14 longs
        if (getrusage(-1 /* RUSAGE_CHILDREN */, usage) != 0) return double.NaN;
        return usage[0] + usage[1] / 1e6 + usage[2] + usage[3] / 1e6;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, [System.Runtime.InteropServices.Out] long[] usage);
}
