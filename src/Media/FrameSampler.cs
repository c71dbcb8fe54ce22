using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace LvMae.Media;

/// <summary>How frames are pulled out of a video.</summary>
public enum FrameSamplingMode
{
    /// <summary>One ffmpeg process decodes the video once; a select filter keeps only the sampled frames and scales just those.</summary>
    SinglePass,
    /// <summary>One ffmpeg process per segment, each seeking (-ss before -i) to the segment start; a few run at once.</summary>
    SeekPerSegment,
}

public sealed record FrameSamplingOptions
{
    public static FrameSamplingOptions Default { get; } = new();

    public FrameSamplingMode Mode { get; init; } = FrameSamplingMode.SinglePass;
    /// <summary>
    /// Decoder skips non-reference frames (<c>-skip_frame noref</c>, on by default): about a third less decoding on
    /// B-frame streams; a sample may move to a neighbouring frame (a few tens of ms in a 5 s segment).
    /// </summary>
    public bool SkipNonReferenceFrames { get; init; } = true;
    /// <summary>
    /// Decoder skips the deblocking filter (<c>-skip_loop_filter all</c>, H.264/HEVC; on by default): faster, with block
    /// edges that the downscale to a thumbnail averages away. Turn both off for exact, full-quality frames.
    /// </summary>
    public bool SkipLoopFilter { get; init; } = true;

    /// <summary>Every frame decoded at full quality (no skipped frames, deblocking on).</summary>
    public static FrameSamplingOptions Exact { get; } = new() { SkipNonReferenceFrames = false, SkipLoopFilter = false };
    /// <summary>
    /// ffmpeg threads: the decoder's (<c>-threads</c>) and the filter graph's (<c>-filter_threads</c>, the scaling);
    /// 0 = ffmpeg's choice (all cores for each). <see cref="MediaThreadBudget"/> computes a count that fits beside other jobs.
    /// </summary>
    public int DecoderThreads { get; init; }
    /// <summary>ffmpeg processes at once in <see cref="FrameSamplingMode.SeekPerSegment"/>.</summary>
    public int MaxConcurrentSeeks { get; init; } = 2;
    /// <summary>swscale algorithm for the downscale ("area" averages, best for thumbnails; "bilinear", "bicubic", "fast_bilinear").</summary>
    public string ScaleFlags { get; init; } = "area";
    /// <summary>When ffmpeg (and the embedder's ffprobe) are killed: no output for too long, or too long in all for the video's length.</summary>
    public ToolTimeouts Timeouts { get; init; } = ToolTimeouts.Default;
}

/// <summary>
/// Samples T uniformly spaced frames per segment (the centres of T equal sub-intervals), resized to a square RGB24
/// thumbnail by ffmpeg itself, read from ffmpeg's stdout (no frame files on disk).
/// </summary>
public static partial class FrameSampler
{
    /// <summary>The instants sampled in <paramref name="segment"/> for <paramref name="framesPerSegment"/> frames.</summary>
    public static double[] TargetTimes(SegmentSpan segment, int framesPerSegment) => SegmentPlanning.TargetTimes(segment, framesPerSegment);

    /// <summary>
    /// Yields each segment's frames in segment order as soon as they are decoded. <paramref name="segments"/> must be in
    /// time order; for <see cref="FrameSamplingMode.SinglePass"/> they should be contiguous (as <see cref="Segmentation.Plan"/> makes them).
    /// Throws <see cref="MediaException"/> naming the file when ffmpeg cannot decode it.
    /// </summary>
    public static async IAsyncEnumerable<SegmentFrames> SampleAsync(
        string path, IReadOnlyList<SegmentSpan> segments, int framesPerSegment, int size,
        FrameSamplingOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(segments);
        ArgumentOutOfRangeException.ThrowIfLessThan(framesPerSegment, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(framesPerSegment, 256);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, 4096);
        options ??= FrameSamplingOptions.Default;
        if (segments.Count == 0) yield break;
        for (var i = 1; i < segments.Count; i++)
            if (segments[i].StartSeconds < segments[i - 1].StartSeconds)
                throw new ArgumentException("segments must be in time order", nameof(segments));
        InspectionImpl.CheckFile(path);

        if (options.Mode == FrameSamplingMode.SinglePass)
        {
            var first = segments[0].StartSeconds;
            var end = segments[^1].EndSeconds;
            await foreach (var item in RunAsync(path, segments, framesPerSegment, size, options,
                               seek: first > 0 ? first : null, readSeconds: end - Math.Max(first, 0) + 1.0, cancellationToken).ConfigureAwait(false))
                yield return item;
            yield break;
        }

        // Seek per segment: a window of ffmpeg processes runs ahead; results come back in order.
        var window = Math.Max(1, options.MaxConcurrentSeeks);
        var pending = new Queue<Task<SegmentFrames>>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var next = 0;
        try
        {
            while (next < segments.Count || pending.Count > 0)
            {
                while (next < segments.Count && pending.Count < window)
                {
                    var segment = segments[next++];
                    pending.Enqueue(SampleOneAsync(path, segment, framesPerSegment, size, options, stop.Token));
                }
                yield return await pending.Dequeue().ConfigureAwait(false);
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var task in pending)
                try { await task.ConfigureAwait(false); } catch { /* cancelled or failed after the consumer stopped */ }
        }
    }

    private static async Task<SegmentFrames> SampleOneAsync(string path, SegmentSpan segment, int frames, int size, FrameSamplingOptions options, CancellationToken ct)
    {
        await foreach (var item in RunAsync(path, [segment], frames, size, options, seek: segment.StartSeconds > 0 ? segment.StartSeconds : null,
                           readSeconds: segment.DurationSeconds + 0.5, ct).ConfigureAwait(false))
            return item;
        throw new MediaException(path, MediaErrorKind.Truncated, $"no frame could be decoded for segment {segment.Index} ({segment.StartSeconds:F2}-{segment.EndSeconds:F2} s)");
    }

    [GeneratedRegex(@"pts_time:\s*(\S+)")]
    private static partial Regex PtsTime();

    /// <summary>One ffmpeg run covering <paramref name="segments"/> (contiguous or not), times relative to <paramref name="seek"/>.</summary>
    private static async IAsyncEnumerable<SegmentFrames> RunAsync(
        string path, IReadOnlyList<SegmentSpan> segments, int framesPerSegment, int size, FrameSamplingOptions options,
        double? seek, double? readSeconds, [EnumeratorCancellation] CancellationToken ct)
    {
        var origin = seek ?? 0;
        var targets = segments.Select(s => SegmentPlanning.TargetTimes(s, framesPerSegment).Select(t => t - origin).ToArray()).ToArray();
        var filter = $"{SelectFilter(segments, framesPerSegment, origin)}scale={size}:{size}:flags={options.ScaleFlags},format=rgb24,showinfo";

        var start = new ProcessStartInfo(FfmpegTool.FfmpegPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            CreateNoWindow = true,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in new[] { "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info" }) start.ArgumentList.Add(a);
        if (options.DecoderThreads > 0)
        {
            var threads = options.DecoderThreads.ToString(CultureInfo.InvariantCulture);
            foreach (var a in new[] { "-filter_threads", threads, "-threads", threads }) start.ArgumentList.Add(a); // -threads before -i: the decoder's
        }
        if (options.SkipNonReferenceFrames) { start.ArgumentList.Add("-skip_frame"); start.ArgumentList.Add("noref"); }
        if (options.SkipLoopFilter) { start.ArgumentList.Add("-skip_loop_filter"); start.ArgumentList.Add("all"); }
        if (seek is { } s) { start.ArgumentList.Add("-ss"); start.ArgumentList.Add(F(s)); }
        if (readSeconds is { } r) { start.ArgumentList.Add("-t"); start.ArgumentList.Add(F(r)); }
        // "file:" + absolute path: a name that looks like a protocol or an option ("http:x.mp4", "-y.mp4") stays a local file.
        foreach (var a in new[] { "-i", InspectionImpl.FileUrl(path), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", filter, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1" })
            start.ArgumentList.Add(a);

        using var process = ToolProcess.Start(start, path, "ffmpeg");
        var coveredSeconds = readSeconds ?? segments[^1].EndSeconds - origin;
        using var watchdog = new ToolWatchdog(process, options.Timeouts.NoProgress, options.Timeouts.DecodeLimit(coveredSeconds));
        var diagnostics = new Queue<string>();
        var times = Channel.CreateUnbounded<double>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var stderrTask = Task.Run(async () =>
        {
            try
            {
                while (await process.StandardError.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
                {
                    if (line.Contains("Parsed_showinfo", StringComparison.Ordinal))
                    {
                        var m = PtsTime().Match(line);
                        if (m.Success)
                            times.Writer.TryWrite(double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) ? t : double.NaN);
                        continue;
                    }
                    lock (diagnostics)
                    {
                        diagnostics.Enqueue(line);
                        if (diagnostics.Count > 40) diagnostics.Dequeue();
                    }
                }
            }
            finally { times.Writer.TryComplete(); }
        }, CancellationToken.None);

        using var kill = ct.Register(() => ToolProcess.KillTree(process));
        var frameBytes = size * size * 3;
        var frames = new List<(double Time, byte[] Data)>();
        var emitted = 0;
        var completed = false;
        try
        {
            var stdout = process.StandardOutput.BaseStream;
            while (true)
            {
                var buffer = new byte[frameBytes];
                var read = await ReadFrameAsync(stdout, buffer, watchdog, ct).ConfigureAwait(false);
                if (watchdog.Expired is { } why) throw ToolProcess.TimedOut(path, "ffmpeg", why);
                if (read < frameBytes) break;
                double time;
                watchdog.Waiting(); // the frame's timestamp comes on stderr, just after its bytes
                try { time = await times.Reader.ReadAsync(ct).ConfigureAwait(false); }
                catch (ChannelClosedException) { time = double.NaN; }
                finally { watchdog.Progressed(); }
                if (double.IsNaN(time)) time = frames.Count > 0 ? frames[^1].Time + 1e-3 : 0; // no timestamp: keep decode order
                frames.Add((time, buffer));
                while (emitted < segments.Count && time >= targets[emitted][^1])
                {
                    yield return Assemble(segments[emitted], targets[emitted], frames, size, origin);
                    ct.ThrowIfCancellationRequested();
                    emitted++;
                    Prune(frames, emitted < segments.Count ? targets[emitted][0] : double.PositiveInfinity);
                }
                if (emitted == segments.Count) break; // everything wanted has been seen: stop decoding
            }

            if (emitted < segments.Count)
            {
                watchdog.Waiting();
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
                await stderrTask.ConfigureAwait(false);
                watchdog.Progressed();
                if (watchdog.Expired is { } why) throw ToolProcess.TimedOut(path, "ffmpeg", why);
                var exit = process.ExitCode;
                if (frames.Count == 0)
                    throw DecodeFailure(path, exit, Snapshot(diagnostics), "no frame could be decoded");
                var last = frames[^1].Time;
                for (; emitted < segments.Count; emitted++)
                {
                    var segment = segments[emitted];
                    // Frames stop long before this segment begins: the stream ends early (truncated or corrupt).
                    if (last < segment.StartSeconds - origin - 0.5)
                        throw DecodeFailure(path, exit, Snapshot(diagnostics),
                            $"decoding stopped at {last + origin:F2} s, before segment {segment.Index} ({segment.StartSeconds:F2}-{segment.EndSeconds:F2} s): truncated or corrupt");
                    yield return Assemble(segment, targets[emitted], frames, size, origin);
                }
            }
            completed = true;
        }
        finally
        {
            if (!completed || !process.HasExited) ToolProcess.KillTree(process);
            try { await stderrTask.ConfigureAwait(false); } catch { /* stderr reader only logs */ }
        }
    }

    /// <summary>Fills <paramref name="buffer"/> with one frame (fewer bytes only at the end of the stream); every chunk that arrives counts as progress.</summary>
    private static async Task<int> ReadFrameAsync(Stream stdout, byte[] buffer, ToolWatchdog watchdog, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            watchdog.Waiting();
            int n;
            try { n = await stdout.ReadAsync(buffer.AsMemory(read), ct).ConfigureAwait(false); }
            finally { watchdog.Progressed(); }
            if (n == 0) break;
            read += n;
        }
        return read;
    }

    /// <summary>
    /// select: keep the first frame at or after each sampling instant. g(t) counts the instants up to t, piecewise for
    /// runs of equally long contiguous segments (normally two runs: the full segments and the shorter last one).
    /// </summary>
    private static string SelectFilter(IReadOnlyList<SegmentSpan> segments, int frames, double origin)
    {
        var runs = new List<(double Start, double Rate, int Before)>();
        var before = 0;
        for (var i = 0; i < segments.Count; i++)
        {
            var s = segments[i];
            var contiguous = i > 0 && Math.Abs(s.StartSeconds - segments[i - 1].EndSeconds) < 1e-6;
            var sameLength = i > 0 && Math.Abs(s.DurationSeconds - segments[i - 1].DurationSeconds) < 1e-9;
            if (!(contiguous && sameLength)) runs.Add((s.StartSeconds - origin, frames / s.DurationSeconds, before));
            before += frames;
        }
        if (runs.Count > 24) return ""; // unusual layout: pass every frame through and let the time mapping pick

        string G(string t)
        {
            var expr = Piece(runs[^1], t);
            for (var r = runs.Count - 2; r >= 0; r--)
                expr = $"if(lt({t},{F(runs[r + 1].Start)}),{Piece(runs[r], t)},{expr})";
            return expr;
        }
        static string Piece((double Start, double Rate, int Before) run, string t) =>
            $"{run.Before}+floor(({t}-{F(run.Start)})*{F(run.Rate)}+0.5)";

        return $"select='isnan(prev_selected_t)+gt({G("t")},{G("prev_selected_t")})',";
    }

    private static SegmentFrames Assemble(SegmentSpan segment, double[] targets, List<(double Time, byte[] Data)> frames, int size, double origin)
    {
        var frameBytes = size * size * 3;
        var rgb = new byte[targets.Length * frameBytes];
        var times = new double[targets.Length];
        var j = 0;
        for (var k = 0; k < targets.Length; k++)
        {
            // frames are in time order: advance while the next frame is at least as close
            while (j + 1 < frames.Count && Math.Abs(frames[j + 1].Time - targets[k]) < Math.Abs(frames[j].Time - targets[k])) j++;
            frames[j].Data.CopyTo(rgb, k * frameBytes);
            times[k] = frames[j].Time + origin;
        }
        return new SegmentFrames(segment, size, targets.Length, rgb, times);
    }

    /// <summary>Drops frames that can no longer be the nearest to any instant at or after <paramref name="nextTarget"/>.</summary>
    private static void Prune(List<(double Time, byte[] Data)> frames, double nextTarget)
    {
        var keepFrom = 0;
        while (keepFrom + 1 < frames.Count && frames[keepFrom + 1].Time <= nextTarget) keepFrom++;
        if (keepFrom > 0) frames.RemoveRange(0, keepFrom);
    }

    private static MediaException DecodeFailure(string path, int exitCode, IReadOnlyList<string> stderr, string what)
    {
        var text = string.Join("\n", stderr);
        if (InspectionImpl.SniffContainer(path) is null && text.Contains("Invalid data found", StringComparison.Ordinal))
            return new MediaException(path, MediaErrorKind.NotMedia, $"{what}: not a media file ffmpeg can read");
        var detail = stderr.LastOrDefault(l => l.Contains("rror", StringComparison.Ordinal) || l.Contains("nvalid", StringComparison.Ordinal) || l.Contains("runcat", StringComparison.Ordinal))
                     ?? (exitCode == 0 ? "no error reported: the stream just ends" : stderr.LastOrDefault() ?? "no diagnostics");
        detail = InspectionImpl.WithoutPath(detail, path);
        if (detail.Length > 300) detail = detail[..300] + "...";
        return new MediaException(path, MediaErrorKind.Truncated, $"{what} (ffmpeg exit {exitCode}: {detail})");
    }

    private static IReadOnlyList<string> Snapshot(Queue<string> lines)
    {
        lock (lines) return lines.ToArray();
    }

    private static string F(double value) => value.ToString("0.#########", CultureInfo.InvariantCulture);
}
