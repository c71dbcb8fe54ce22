using System.Diagnostics;
using System.Globalization;
using System.Text;
using LvMae.Media;

namespace LvMae.Bench;

/// <summary>
/// Segment + frame-sampling throughput on a generated 720p video (10 min; 1 min with --quick), against the time a plain
/// full decode (`ffmpeg -i X -f null -`) of the same file takes in the same run; plus encoder costs.
/// </summary>
public sealed class MediaBench : IBenchSuite
{
    public string Name => "media";

    private sealed record Variant(string Label, int Frames, int Size, FrameSamplingOptions Options);

    public async Task<string> RunAsync(BenchContext context)
    {
        var seconds = context.Quick ? 60 : 600;
        var path = await EnsureVideoAsync(seconds);
        var info = await VideoProber.ProbeAsync(path);
        var segments = Segmentation.Plan(info.DurationSeconds, new SegmentationOptions());

        Task FullDecode() => RunAsync("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", path, "-f", "null", "-");
        var (decode, decodeCpu) = await MeasureAsync(FullDecode);
        Console.WriteLine($"full decode: {decode:F2} s, ffmpeg CPU {decodeCpu:F2} s");

        var exact = FrameSamplingOptions.Exact;
        var fast = FrameSamplingOptions.Default;
        var variants = new List<Variant>
        {
            new("exact decode (every frame, deblocked), T=8, 32 px", 8, 32, exact),
            new("exact decode, T=2, 224 px", 2, 224, exact),
            new("**default** (skip non-ref frames + deblocking), T=8, 32 px (builtin)", 8, 32, fast),
            new("**default**, T=2, 224 px (resnet18 default)", 2, 224, fast),
            new("**default**, T=8, 224 px", 8, 224, fast),
            new("seek per segment (2 ffmpeg at once), default decode, T=1, 224 px", 1, 224, fast with { Mode = FrameSamplingMode.SeekPerSegment }),
        };
        if (context.Quick) variants.RemoveAt(4);

        var results = new List<(Variant V, double Wall, double Cpu, int Frames)>();
        foreach (var v in variants)
        {
            var count = 0;
            var (time, cpu) = await MeasureAsync(async () =>
            {
                count = 0;
                await foreach (var s in FrameSampler.SampleAsync(path, segments, v.Frames, v.Size, v.Options)) count += s.Count;
            });
            Console.WriteLine($"{v.Label}: {time:F2} s ({time / decode:F2}x), CPU {cpu:F2} s ({cpu / decodeCpu:F2}x)");
            results.Add((v, time, cpu, count));
        }

        // The baseline once more at the end; the faster of the two is the floor (load from other jobs comes and goes).
        var (again, againCpu) = await MeasureAsync(FullDecode);
        Console.WriteLine($"full decode again: {again:F2} s, ffmpeg CPU {againCpu:F2} s");
        var floor = Math.Min(decode, again);
        var floorCpu = Math.Min(decodeCpu, againCpu);

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Video: {info.Width}x{info.Height} {info.Codec} {info.FrameRate:F0} fps, {info.DurationSeconds:F0} s (testsrc2, x264 veryfast: B-frames, keyframe every 250 frames), {segments.Count} segments of 5 s; generated once and cached under the temp dir.");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Baseline, same run: `ffmpeg -i X -f null -` (full decode), measured before and after the variants: {decode:F2} s / {again:F2} s wall, {decodeCpu:F2} s / {againCpu:F2} s ffmpeg CPU. Ratios use the faster of each: **{floor:F2} s wall, {floorCpu:F2} s CPU** ({info.DurationSeconds * info.FrameRate / floor:F0} decoded frames/s).");
        md.AppendLine("The machine is shared (2 cores, other jobs running), so wall times are noisy; the ffmpeg CPU time (getrusage of the reaped child processes) is the steadier measure.");
        md.AppendLine();
        md.AppendLine("| Segment + sample path | Wall (s) | Segments/s | Sampled frames/s | Wall / full decode | ffmpeg CPU (s) | CPU / full decode |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (v, time, cpu, count) in results)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {v.Label} | {time:F2} | {segments.Count / time:F1} | {count / time:F1} | {time / floor:F2}x | {cpu:F2} | {cpu / floorCpu:F2}x |");

        // Encoders: inference cost per frame, and a whole video through VideoEmbedder (decode and inference overlap).
        md.AppendLine();
        using (var resnet = new ResNet18Encoder())
        {
            var frame = new SegmentFrames(new SegmentSpan(0, 0, 5), 224, 1, RandomFrame(224), [0]);
            resnet.Encode([frame]);
            var n = context.Quick ? 10 : 30;
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var perFrame = Median(1, () => { for (var i = 0; i < n; i++) resnet.Encode([frame]); }) / n;
            var cpuPerFrame = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds / n;
            var video = context.Quick ? segments.Take(12).ToList() : segments.Take(24).ToList(); // a 1- or 2-minute stretch
            var watch = Stopwatch.StartNew();
            var clip = await EmbedStretchAsync(path, video, resnet);
            var embed = watch.Elapsed.TotalSeconds;
            md.AppendLine(CultureInfo.InvariantCulture, $"resnet18 ({resnet.Device}, {Environment.ProcessorCount} cores): **{perFrame * 1000:F0} ms per frame wall, {cpuPerFrame * 1000:F0} ms CPU** (ONNX models fixed at batch 1, so one frame per run; no spin-waiting). Default {ResNet18Encoder.DefaultFrames} frames per segment: a {video.Count * 5 / 60.0:F0}-minute stretch ({video.Count} segments, {clip} frames) embeds in {embed:F1} s end to end (decode overlapped with inference), i.e. ~{embed / video.Count * 24:F1} s per 2-minute video; a 120-video demo of 1-4 min videos (~3,600 segments) ~{3600 * embed / video.Count / 60:F1} min at this run's wall speed, {3600 * ResNet18Encoder.DefaultFrames * cpuPerFrame / 60:F1} CPU-minutes of inference.");
        }
        using (var builtin = new BuiltinEncoder())
        {
            var watch = Stopwatch.StartNew();
            var embedded = await VideoEmbedder.EmbedAsync(path, builtin, new SegmentationOptions());
            var t = watch.Elapsed.TotalSeconds;
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"builtin: the whole {info.DurationSeconds:F0} s video through `VideoEmbedder.EmbedAsync` (probe + sample T=8 at 32 px + encode, {embedded.Segments.Count} segments) in {t:F2} s wall = {t / decode:F2}x the full decode.");
        }
        md.AppendLine();
        md.AppendLine("How: one ffmpeg process decodes the file once; a `select` filter keeps only the first frame at or after each sampling instant, and only those are scaled (`scale=S:S:flags=area`, RGB24 read from stdout, no files). The default also skips non-reference frames and H.264 deblocking in the decoder (a sample moves by at most a frame or two; the test suite bounds it), which is where the win over a plain full decode comes from: the select+scale work itself costs about nothing next to decoding. Seeking per segment re-decodes from the previous keyframe every time (keyframes here are 8.3 s apart, segments 5 s), so it loses to a single pass unless keyframes are dense.");
        return md.ToString();
    }

    private static async Task<int> EmbedStretchAsync(string path, IReadOnlyList<SegmentSpan> segments, ISegmentEncoder encoder)
    {
        // Same overlap as VideoEmbedder: sampling runs ahead while the encoder works.
        var frames = 0;
        var pending = new List<SegmentFrames>();
        Task<float[]>? running = null;
        await foreach (var s in FrameSampler.SampleAsync(path, segments, encoder.DefaultFramesPerSegment, encoder.FrameSize))
        {
            frames += s.Count;
            if (running is not null) await running;
            running = Task.Run(() => encoder.Encode([s]));
        }
        if (running is not null) await running;
        return frames;
    }

    private static byte[] RandomFrame(int size)
    {
        var bytes = new byte[size * size * 3];
        new Random(3).NextBytes(bytes);
        return bytes;
    }

    private static async Task<string> EnsureVideoAsync(int seconds)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lvmae-bench-media");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"long-720p-{seconds}s.mp4");
        if (File.Exists(path)) return path;
        Console.WriteLine($"generating {path} ...");
        var tmp = Path.Combine(dir, $"long-720p-{seconds}s.tmp.mp4");
        await RunAsync("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
            "-t", seconds.ToString(CultureInfo.InvariantCulture), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", tmp);
        File.Move(tmp, path, overwrite: true);
        return path;
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed: {err}");
    }

    /// <summary>Wall time and the CPU time of the child processes (ffmpeg) reaped meanwhile.</summary>
    private static async Task<(double Wall, double ChildCpu)> MeasureAsync(Func<Task> action)
    {
        var before = ChildCpuSeconds();
        var watch = Stopwatch.StartNew();
        await action();
        var wall = watch.Elapsed.TotalSeconds;
        await Task.Delay(200); // let the runtime reap the last child
        return (wall, ChildCpuSeconds() - before);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, [System.Runtime.InteropServices.Out] long[] usage);

    private static double ChildCpuSeconds()
    {
        if (!OperatingSystem.IsLinux()) return double.NaN;
        var usage = new long[18]; // struct rusage: ru_utime, ru_stime (timeval = 2 longs each), 14 longs
        if (getrusage(-1 /* RUSAGE_CHILDREN */, usage) != 0) return double.NaN;
        return usage[0] + usage[1] / 1e6 + usage[2] + usage[3] / 1e6;
    }

    private static double Median(int runs, Func<double> measure)
    {
        var times = Enumerable.Range(0, runs).Select(_ => measure()).Order().ToArray();
        return times[runs / 2];
    }

    private static double Median(int runs, Action action) => Median(runs, () =>
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalSeconds;
    });
}
