using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace LvMae.Testing;

/// <summary>How a generated test video is encoded.</summary>
public sealed record TestVideoOptions
{
    /// <summary>ffmpeg video encoder ("libx264", "mpeg4", "libvpx-vp9" with a .webm path, ...).</summary>
    public string Codec { get; init; } = "libx264";
    /// <summary>x264 preset ("ultrafast" keeps tests fast; "veryfast" is closer to real files).</summary>
    public string Preset { get; init; } = "ultrafast";
    /// <summary>Temporal noise strength 0-100 (ffmpeg noise filter), 0 = none.</summary>
    public int Noise { get; init; }
    /// <summary>Hue rotation in degrees (colour jitter), 0 = none.</summary>
    public double HueDegrees { get; init; }
    /// <summary>Adds a sine audio track.</summary>
    public bool Audio { get; init; }
    /// <summary>Keyframe interval in frames; null = the encoder's default.</summary>
    public int? KeyframeInterval { get; init; }
    /// <summary>Height when it differs from the width (size is the width then).</summary>
    public int? Height { get; init; }
    /// <summary>Extra output arguments placed before the path.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}

/// <summary>
/// Test media generated with ffmpeg's lavfi sources (testsrc2, smptebars, mandelbrot, life, cellauto, rgbtestsrc,
/// gradients, color=c=red, ...): small and short, so suites stay fast. Shared by every test project.
/// </summary>
public static class TestVideos
{
    /// <summary>Sources that look clearly different from each other.</summary>
    public static IReadOnlyList<string> DistinctSources { get; } = ["testsrc2", "smptebars", "mandelbrot", "life", "cellauto", "rgbtestsrc", "color=c=red"];

    /// <summary>True when ffmpeg can be started.</summary>
    public static bool FfmpegAvailable => s_available.Value;

    private static readonly Lazy<bool> s_available = new(() =>
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("ffmpeg", "-hide_banner -version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (p is null) return false;
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (Exception) { return false; }
    });

    /// <summary>
    /// Writes a <paramref name="seconds"/>-long video of <paramref name="source"/> (a lavfi source name, optionally
    /// with its own options: "color=c=blue", "life=ratio=0.2") at size x size (or size x Height) and <paramref name="fps"/>.
    /// Overwrites <paramref name="path"/>; the container follows its extension.
    /// </summary>
    public static Task GenerateAsync(string path, double seconds, string source = "testsrc2", int size = 64, int fps = 10,
        TestVideoOptions? options = null, CancellationToken cancellationToken = default) =>
        GenerateStepsAsync(path, [(source, seconds)], size, fps, options, cancellationToken);

    /// <summary>
    /// A video made of consecutive "steps", each a lavfi source shown for its duration (the long-video benchmark's
    /// building block: classes share steps in different orders).
    /// </summary>
    public static async Task GenerateStepsAsync(string path, IReadOnlyList<(string Source, double Seconds)> steps, int size = 64, int fps = 10,
        TestVideoOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0) throw new ArgumentException("at least one step", nameof(steps));
        options ??= new TestVideoOptions();
        var width = size;
        var height = options.Height ?? size;
        var args = new List<string> { "-hide_banner", "-nostdin", "-loglevel", "error", "-y" };
        foreach (var (source, secs) in steps)
        {
            if (!(secs > 0)) throw new ArgumentOutOfRangeException(nameof(steps), secs, "step durations must be positive");
            args.AddRange(["-f", "lavfi", "-t", F(secs), "-i", SourceFilter(source, width, height, fps)]);
        }
        var graph = new StringBuilder();
        for (var i = 0; i < steps.Count; i++)
        {
            graph.Append(CultureInfo.InvariantCulture, $"[{i}:v]scale={width}:{height},setsar=1,format=yuv420p");
            if (options.HueDegrees != 0) graph.Append(CultureInfo.InvariantCulture, $",hue=h={F(options.HueDegrees)}");
            if (options.Noise > 0) graph.Append(CultureInfo.InvariantCulture, $",noise=alls={options.Noise}:allf=t");
            graph.Append(CultureInfo.InvariantCulture, $"[s{i}];");
        }
        for (var i = 0; i < steps.Count; i++) graph.Append(CultureInfo.InvariantCulture, $"[s{i}]");
        graph.Append(CultureInfo.InvariantCulture, $"concat=n={steps.Count}:v=1:a=0[v]");
        args.AddRange(["-filter_complex", graph.ToString(), "-map", "[v]"]);
        if (options.Audio)
        {
            args.InsertRange(args.IndexOf("-filter_complex"), ["-f", "lavfi", "-t", F(steps.Sum(s => s.Seconds)), "-i", "sine=frequency=440"]);
            args.AddRange(["-map", $"{steps.Count}:a", "-c:a", "aac", "-shortest"]);
        }
        args.AddRange(["-c:v", options.Codec]);
        if (options.Codec == "libx264") args.AddRange(["-preset", options.Preset]);
        if (options.KeyframeInterval is { } g) args.AddRange(["-g", g.ToString(CultureInfo.InvariantCulture)]);
        args.AddRange(["-pix_fmt", "yuv420p", "-r", fps.ToString(CultureInfo.InvariantCulture)]);
        args.AddRange(options.ExtraArguments);
        args.Add(path);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        await RunFfmpegAsync(args, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An audio-only file (sine tone), e.g. "x.m4a" or "x.wav".</summary>
    public static Task GenerateAudioOnlyAsync(string path, double seconds, CancellationToken cancellationToken = default) =>
        RunFfmpegAsync(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-t", F(seconds), "-i", "sine=frequency=440", path], cancellationToken);

    /// <summary>A single PNG image of <paramref name="source"/> (first frame), size x size.</summary>
    public static Task GenerateImageAsync(string path, string source = "testsrc2", int size = 224, CancellationToken cancellationToken = default) =>
        RunFfmpegAsync(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", SourceFilter(source, size, size, 1), "-frames:v", "1", path], cancellationToken);

    /// <summary>"testsrc2" -> "testsrc2=size=64x64:rate=10"; "color=c=red" -> "color=c=red:size=64x64:rate=10".</summary>
    public static string SourceFilter(string source, int width, int height, int fps)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        var separator = source.Contains('=') ? ':' : '=';
        return $"{source}{separator}size={width}x{height}:rate={fps}";
    }

    /// <summary>Runs ffmpeg with <paramref name="arguments"/>; throws with its stderr when it fails.</summary>
    public static async Task RunFfmpegAsync(IEnumerable<string> arguments, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start");
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        try { await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        var error = await stderr.ConfigureAwait(false);
        await stdout.ConfigureAwait(false);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"ffmpeg {string.Join(' ', start.ArgumentList)} failed ({process.ExitCode}): {error}");
    }

    private static string F(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);
}
