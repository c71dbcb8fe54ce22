using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace LvMae.Corpus;

/// <summary>Progress of a corpus generation: videos finished (generated or reused) out of the total.</summary>
/// <param name="VideoId">The video that just finished (null for the initial report).</param>
/// <param name="Reused">How many of the finished videos were already on disk from an identical plan.</param>
public sealed record CorpusProgress(int Completed, int Total, string? VideoId, int Reused, TimeSpan Elapsed)
{
    public double Fraction => Total == 0 ? 1 : (double)Completed / Total;
}

/// <summary>ffmpeg could not render a corpus video (or is not installed); the message carries ffmpeg's stderr.</summary>
public sealed class CorpusGenerationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The synthetic long-video benchmark (see docs/BENCHMARK-CORPUS.md and <see cref="CorpusSpec"/>): ordered
/// sequences of visually distinct lavfi "steps" whose labels depend on the order of the steps.
/// </summary>
/// <remarks>
/// <para>Labels (labels.csv; definitions with chance levels in <see cref="CorpusManifest.Labels"/>), for the default spec:</para>
/// <list type="bullet">
/// <item><c>activity</c> (4 classes, chance 25%): which directed cycle of the same 5 core steps the video walks.
/// Bag-of-segments models are at chance by construction (same step multiset, durations, distractors and jitter
/// distribution in every class; no segment mixes two steps). Needs order over the whole video.</item>
/// <item><c>first_step</c> (5 classes, chance 20%): the step the video opens with; balanced and independent of the
/// class and of the bag. Needs absolute position.</item>
/// <item><c>num_steps</c> (5-9, chance 33%): step occurrences, 5 + extra distractors + 2 per interruption. Partly
/// visible to a bag model.</item>
/// <item><c>key_step_seconds</c> (regression, baseline RMSE = the target's std, about 6 s): total seconds of the
/// key step (<c>fractal</c>). A mean-pooled bag sees its share but not the video length.</item>
/// </list>
/// <para>Expected outcome: linear or attentive probes on mean-pooled / position-free raw segment embeddings score
/// chance on activity and first_step; features that encode order (LV-MAE's encoder, with positions) can beat it.</para>
/// </remarks>
public static class SyntheticCorpus
{
    /// <summary>ffmpeg executable: $LVMAE_FFMPEG or "ffmpeg" on PATH.</summary>
    public static string FfmpegPath => Environment.GetEnvironmentVariable("LVMAE_FFMPEG") is { Length: > 0 } p ? p : "ffmpeg";

    /// <summary>ffprobe executable: $LVMAE_FFPROBE or "ffprobe" on PATH.</summary>
    public static string FfprobePath => Environment.GetEnvironmentVariable("LVMAE_FFPROBE") is { Length: > 0 } p ? p : "ffprobe";

    /// <summary>Labels and timelines of the corpus a spec describes, without rendering anything (a pure function of the spec).</summary>
    public static CorpusManifest Plan(CorpusSpec spec) => CorpusPlanner.Plan(spec);

    /// <summary>
    /// Renders every video of the spec into <paramref name="outputDirectory"/> as &lt;videoId&gt;.mp4 (one ffmpeg process
    /// per video, <see cref="CorpusSpec.Parallelism"/> at a time), then writes labels.csv and timelines.json.
    /// Videos already present from a run with the same plan (same fingerprint) are kept, so re-running is cheap;
    /// each file is written under a temporary name and renamed when complete. Each rendered file's duration is
    /// checked with ffprobe against its timeline.
    /// </summary>
    public static async Task<CorpusManifest> GenerateAsync(
        string outputDirectory, CorpusSpec spec, IProgress<CorpusProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        var manifest = Plan(spec);
        Directory.CreateDirectory(outputDirectory);

        string planPath = Path.Combine(outputDirectory, "timelines.partial.json");
        bool samePlan = SamePlan(Path.Combine(outputDirectory, CorpusManifest.ManifestFileName), manifest)
                        || SamePlan(planPath, manifest);
        CorpusManifest.WriteAtomic(planPath, manifest.ToJson());

        var clock = Stopwatch.StartNew();
        int completed = 0, reused = 0;
        progress?.Report(new CorpusProgress(0, manifest.Videos.Count, null, 0, clock.Elapsed));

        // Longest first: better packing of the parallel slots.
        var order = manifest.Videos.OrderByDescending(v => v.FrameCount).ToArray();
        await Parallel.ForEachAsync(order,
            new ParallelOptions { MaxDegreeOfParallelism = spec.Parallelism, CancellationToken = cancellationToken },
            async (video, ct) =>
            {
                string path = Path.Combine(outputDirectory, video.FileName);
                bool reuse = samePlan && File.Exists(path) && new FileInfo(path).Length > 0;
                if (!reuse)
                    await RenderAsync(video, spec, path, ct).ConfigureAwait(false);
                int done = Interlocked.Increment(ref completed);
                int r = reuse ? Interlocked.Increment(ref reused) : Volatile.Read(ref reused);
                progress?.Report(new CorpusProgress(done, manifest.Videos.Count, video.VideoId, r, clock.Elapsed));
            }).ConfigureAwait(false);

        manifest.Save(outputDirectory);
        File.Delete(planPath);
        return manifest;
    }

    /// <summary>Renders one video of a plan to <paramref name="outputPath"/> (via a temp file) and checks its duration.</summary>
    public static async Task RenderAsync(CorpusVideo video, CorpusSpec spec, string outputPath, CancellationToken cancellationToken = default)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(outputPath))!;
        string tmp = Path.Combine(dir, Path.GetFileNameWithoutExtension(outputPath) + ".partial.mp4");
        try
        {
            await RunAsync(FfmpegPath, BuildArguments(video, spec, tmp), video.VideoId, cancellationToken).ConfigureAwait(false);
            double seconds = await ProbeDurationAsync(tmp, cancellationToken).ConfigureAwait(false);
            if (Math.Abs(seconds - video.DurationSeconds) > 2.0 / spec.FrameRate + 1e-6)
                throw new CorpusGenerationException(
                    $"{video.VideoId}: rendered {seconds:0.###} s but the timeline says {video.DurationSeconds:0.###} s.");
            File.Move(tmp, outputPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>
    /// The ffmpeg filter graph of one video: one lavfi source chain per step occurrence (trimmed to its frames),
    /// concatenated, then the per-video jitter (hue, eq) and temporal noise, in yuv420p.
    /// </summary>
    public static string BuildFilterGraph(CorpusVideo video, CorpusSpec spec)
    {
        var sb = new StringBuilder();
        foreach (var step in video.Steps)
            sb.Append(StepCatalog.SourceChain(step.Step, spec.Width, spec.Height, spec.FrameRate, step.FrameCount, step.SourceSeed))
              .Append($"[s{step.Index}];");
        foreach (var step in video.Steps)
            sb.Append($"[s{step.Index}]");
        var j = video.Jitter;
        sb.Append($"concat=n={video.Steps.Count}:v=1:a=0,")
          .Append($"hue=h={StepCatalog.F(j.HueDegrees)}:s={StepCatalog.F(j.Saturation)},")
          .Append($"eq=brightness={StepCatalog.F(j.Brightness)}:contrast={StepCatalog.F(j.Contrast)},");
        if (j.Noise > 0)
            sb.Append($"noise=alls={j.Noise}:allf=t+u:all_seed={j.NoiseSeed},");
        sb.Append("format=yuv420p[out]");
        return sb.ToString();
    }

    /// <summary>The full ffmpeg argument list for one video (single-threaded; keyframe at every segment start).</summary>
    public static IReadOnlyList<string> BuildArguments(CorpusVideo video, CorpusSpec spec, string outputPath)
    {
        string I(int x) => x.ToString(CultureInfo.InvariantCulture);
        return
        [
            "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-filter_complex_threads", "1",
            "-filter_complex", BuildFilterGraph(video, spec),
            "-map", "[out]", "-an",
            "-c:v", "libx264", "-preset", spec.Preset, "-crf", I(spec.Crf),
            "-g", I(spec.FramesPerSegment), "-keyint_min", I(spec.FramesPerSegment), "-sc_threshold", "0",
            "-threads", "1",
            "-r", I(spec.FrameRate), "-frames:v", I(video.FrameCount),
            "-metadata", $"comment=lvmae-synthetic-corpus {video.VideoId} activity={video.Activity}",
            "-movflags", "+faststart", "-f", "mp4",
            outputPath,
        ];
    }

    /// <summary>Container duration in seconds, by ffprobe.</summary>
    public static async Task<double> ProbeDurationAsync(string path, CancellationToken cancellationToken = default)
    {
        string output = await RunAsync(FfprobePath,
            ["-v", "error", "-show_entries", "format=duration", "-of", "default=noprint_wrappers=1:nokey=1", path],
            path, cancellationToken).ConfigureAwait(false);
        return double.TryParse(output.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
            ? d
            : throw new CorpusGenerationException($"{path}: ffprobe gave no duration ('{output.Trim()}').");
    }

    private static bool SamePlan(string manifestPath, CorpusManifest plan)
    {
        if (!File.Exists(manifestPath)) return false;
        try { return CorpusManifest.Load(manifestPath).Fingerprint == plan.Fingerprint; }
        catch (Exception e) when (e is InvalidDataException or IOException) { return false; }
    }

    /// <summary>Runs a tool, returns stdout; throws <see cref="CorpusGenerationException"/> with stderr's tail on failure.</summary>
    private static async Task<string> RunAsync(string tool, IReadOnlyList<string> arguments, string subject, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (string a in arguments) psi.ArgumentList.Add(a);

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new CorpusGenerationException($"{tool} is not installed or not on PATH (apt-get install -y ffmpeg): {e.Message}", e);
        }

        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        string err = await stderr.ConfigureAwait(false);
        string outText = await stdout.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            string tail = err.Length > 2000 ? err[^2000..] : err;
            throw new CorpusGenerationException($"{subject}: {Path.GetFileName(tool)} failed with exit code {process.ExitCode}: {tail.Trim()}");
        }
        return outText;
    }
}
