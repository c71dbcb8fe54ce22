using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FFMpegCore;
using FFMpegCore.Exceptions;

namespace LvMae.Media;

/// <summary>Limits a probed video must satisfy; anything outside is rejected as <see cref="MediaErrorKind.AbsurdDimensions"/>.</summary>
public static class MediaLimits
{
    /// <summary>Largest accepted width or height (16K).</summary>
    public const int MaxSide = 16384;
    /// <summary>Most extreme accepted aspect ratio (long side / short side).</summary>
    public const double MaxAspect = 32;
}

/// <summary>ffprobe through FFMpegCore, with every failure mapped to a named <see cref="MediaException"/>.</summary>
internal static class InspectionImpl
{
    public static async Task<VideoInfo> InspectAsync(string path, ToolTimeouts timeouts, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(timeouts);
        var size = CheckFile(path);
        var (exitCode, json, stderr) = await RunFfprobeAsync(path, timeouts.Probe, cancellationToken).ConfigureAwait(false);
        if (exitCode != 0) throw FromProbeError(path, exitCode, stderr, null);

        IMediaAnalysis analysis;
        try { analysis = FFProbe.FromJson(json); }
        catch (Exception e) when (e is JsonException or FFMpegException or NullReferenceException or FormatException)
        {
            throw new MediaException(path, MediaErrorKind.NotMedia, "ffprobe output was not understood (not a media file?)", e);
        }
        return Validate(path, size, analysis);
    }

    /// <summary>
    /// ffprobe's JSON analysis (the arguments FFMpegCore uses), run here rather than through FFMpegCore so that a hung
    /// ffprobe is killed, with its process tree, after <paramref name="timeout"/>.
    /// </summary>
    private static async Task<(int ExitCode, string Json, IReadOnlyList<string> Stderr)> RunFfprobeAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(GlobalFFOptions.GetFFProbeBinaryPath())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        // "file:" + absolute path: a name that looks like a protocol or an option ("http:x.mp4", "-y.mp4") stays a local file.
        foreach (var a in new[] { "-loglevel", "error", "-print_format", "json", "-show_format", "-sexagesimal", "-show_streams", "-show_chapters", FileUrl(path) })
            start.ArgumentList.Add(a);

        using var process = ToolProcess.Start(start, path, "ffprobe");
        using var deadline = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
            var json = await stdout.WaitAsync(linked.Token).ConfigureAwait(false);
            var errors = await stderr.WaitAsync(linked.Token).ConfigureAwait(false);
            return (process.ExitCode, json, errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            ToolProcess.KillTree(process);
            throw ToolProcess.TimedOut(path, "ffprobe", $"did not finish within {ToolTimeouts.Describe(timeout)}");
        }
        catch (OperationCanceledException)
        {
            ToolProcess.KillTree(process);
            throw;
        }
    }

    /// <summary>How ffmpeg and ffprobe are given a local file.</summary>
    internal static string FileUrl(string path) => "file:" + Path.GetFullPath(path);

    internal static long CheckFile(string path)
    {
        if (Directory.Exists(path)) throw new MediaException(path, MediaErrorKind.NotMedia, "is a directory, not a media file");
        FileInfo file;
        try
        {
            file = new FileInfo(path);
            if (!file.Exists) throw new MediaException(path, MediaErrorKind.FileNotFound, "file not found");
            // Checked before opening: a named pipe also reports 0 bytes, and opening one blocks until a writer comes.
            if (file.Length == 0) throw new MediaException(path, MediaErrorKind.EmptyFile, "file is empty (0 bytes) or not a regular file (a pipe or device)");
            using var probe = file.OpenRead(); // unreadable (permissions, I/O) surfaces here with a clear name
        }
        catch (MediaException) { throw; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MediaException(path, MediaErrorKind.Truncated, $"file cannot be read: {e.Message}", e);
        }
        return file.Length;
    }

    private static VideoInfo Validate(string path, long size, IMediaAnalysis analysis)
    {
        var video = analysis.VideoStreams.FirstOrDefault(v => !IsAttachedPicture(v)) ;
        if (video is null)
        {
            var what = analysis.AudioStreams.Count > 0
                ? $"it has only audio ({analysis.AudioStreams.Count} audio stream(s)) and no video stream"
                : analysis.VideoStreams.Count > 0 ? "its only picture is cover art, there is no video stream" : "it has no video stream";
            throw new MediaException(path, MediaErrorKind.NoVideoStream, what);
        }

        int width = video.Width ?? 0, height = video.Height ?? 0;
        if (width <= 0 || height <= 0)
            throw new MediaException(path, MediaErrorKind.AbsurdDimensions, $"video stream has no usable size ({width}x{height})");
        if (width > MediaLimits.MaxSide || height > MediaLimits.MaxSide ||
            Math.Max(width, height) > MediaLimits.MaxAspect * Math.Min(width, height))
            throw new MediaException(path, MediaErrorKind.AbsurdDimensions,
                $"absurd video size {width}x{height} (accepted: sides up to {MediaLimits.MaxSide}, aspect ratio up to {MediaLimits.MaxAspect}:1)");

        var raw = analysis.Raw.Streams.FirstOrDefault(s => s.Index == video.Index);
        long? frames = null;
        if (raw?.ExtensionData is { } extra && extra.TryGetValue("nb_frames", out var nb))
        {
            var text = nb.ValueKind == JsonValueKind.String ? nb.GetString() : nb.ValueKind == JsonValueKind.Number ? nb.GetRawText() : null;
            if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)) frames = n;
        }
        if (frames is 0 or 1)
            throw new MediaException(path, MediaErrorKind.TooFewFrames, $"video stream has only {frames} frame(s): a still image, not a video");

        var duration = video.Duration.TotalSeconds;
        if (!(duration > 0)) duration = analysis.Format.Duration.TotalSeconds;
        if (!(duration > 0)) duration = analysis.Duration.TotalSeconds;
        if (!(duration > 0) || double.IsInfinity(duration))
            throw new MediaException(path, MediaErrorKind.ZeroDuration, "video has zero (or unknown) duration");

        var rate = video.AverageFrameRate;
        if (!(rate > 0) || double.IsInfinity(rate)) rate = video.RealFrameRate;
        if ((!(rate > 0) || double.IsInfinity(rate)) && frames > 0) rate = frames.Value / duration;
        if (!(rate > 0) || double.IsInfinity(rate)) rate = 0;

        return new VideoInfo(duration, rate, width, height, video.CodecName ?? "unknown", size)
        {
            FrameCount = frames,
            FormatName = analysis.Format.FormatName,
            HasAudio = analysis.AudioStreams.Count > 0,
        };
    }

    private static bool IsAttachedPicture(VideoStream stream) =>
        stream.Disposition is { } d && d.TryGetValue("attached_pic", out var pic) && pic;

    /// <summary>Maps ffprobe's stderr to the kind of problem the file has.</summary>
    internal static MediaException FromProbeError(string path, int exitCode, IReadOnlyList<string>? stderr, Exception? inner)
    {
        var text = string.Join("\n", stderr ?? []);
        var detail = LastMeaningfulLine(stderr, path);
        if (System.Text.RegularExpressions.Regex.Match(text, @"Picture size (\d+x\d+) is invalid") is { Success: true } size)
            // Just ffmpeg's finding: the lines after it (e.g. "Device or resource busy", its errno) only confuse.
            return new MediaException(path, MediaErrorKind.AbsurdDimensions, $"absurd picture size {size.Groups[1].Value}: ffmpeg refuses frames that large", inner);
        if (text.Contains("Picture size", StringComparison.Ordinal) && text.Contains("invalid", StringComparison.OrdinalIgnoreCase))
            return new MediaException(path, MediaErrorKind.AbsurdDimensions, $"absurd picture size: {detail}", inner);
        if (text.Contains("Permission denied", StringComparison.OrdinalIgnoreCase))
            return new MediaException(path, MediaErrorKind.ToolFailed, $"ffprobe may not read it: {detail}", inner);
        var container = SniffContainer(path);
        if (container is not null)
            return new MediaException(path, MediaErrorKind.Truncated,
                $"looks like {container} but cannot be read: truncated or corrupt ({detail})", inner);
        if (text.Contains("Invalid data found", StringComparison.Ordinal) || text.Contains("moov atom not found", StringComparison.Ordinal) ||
            text.Contains("could not find codec parameters", StringComparison.OrdinalIgnoreCase) || exitCode == 1)
            return new MediaException(path, MediaErrorKind.NotMedia, $"not a media file ffmpeg can read ({detail})", inner);
        return new MediaException(path, MediaErrorKind.ToolFailed, $"ffprobe failed with exit code {exitCode}: {detail}", inner);
    }

    /// <summary>Recognises the first bytes of common containers, so a damaged video is told apart from a non-video.</summary>
    internal static string? SniffContainer(string path)
    {
        Span<byte> head = stackalloc byte[12];
        int read;
        try
        {
            using var stream = File.OpenRead(path);
            read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        if (read < 8) return null;
        var box = System.Text.Encoding.ASCII.GetString(head[4..8]);
        if (box is "ftyp" or "moov" or "mdat" or "free" or "wide" or "skip") return "an MP4/QuickTime file";
        if (head[0] == 0x1A && head[1] == 0x45 && head[2] == 0xDF && head[3] == 0xA3) return "a Matroska/WebM file";
        if (head[..4].SequenceEqual("RIFF"u8) && read >= 12 && head[8..12].SequenceEqual("AVI "u8)) return "an AVI file";
        if (head[..3].SequenceEqual("FLV"u8)) return "an FLV file";
        if (head[..4].SequenceEqual("OggS"u8)) return "an Ogg file";
        if (head[0] == 0x47 && read >= 1 && LooksLikeTransportStream(path)) return "an MPEG transport stream";
        return null;
    }

    private static bool LooksLikeTransportStream(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            var buffer = new byte[188 * 3 + 1];
            var n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            return n > 188 * 2 && buffer[0] == 0x47 && buffer[188] == 0x47 && buffer[376] == 0x47;
        }
        catch (IOException) { return false; }
    }

    internal static string LastMeaningfulLine(IReadOnlyList<string>? lines, string path)
    {
        if (lines is null || lines.Count == 0) return "no diagnostics";
        var line = WithoutPath(lines.LastOrDefault(l => !string.IsNullOrWhiteSpace(l)) ?? "no diagnostics", path);
        var first = WithoutPath(lines[0], path);
        if (lines.Count > 1 && first != line) line = $"{first}; {line}";
        return line.Length > 300 ? line[..300] + "..." : line;
    }

    /// <summary>A tool's diagnostic line without the input's name (the error names it once already).</summary>
    internal static string WithoutPath(string line, string path) =>
        line.Replace(FileUrl(path), "", StringComparison.Ordinal).Replace(path, "", StringComparison.Ordinal).Trim(' ', ':');
}

/// <summary>Where ffmpeg is and how its absence looks.</summary>
internal static class FfmpegTool
{
    public static string FfmpegPath => GlobalFFOptions.GetFFMpegBinaryPath();

    public static bool IsToolMissing(Exception e) =>
        e is Win32Exception || e.GetType().Namespace == "Instances.Exceptions" || e.InnerException is Win32Exception;

    public static MediaException Missing(string input, string tool, Exception inner) =>
        new(input, MediaErrorKind.ToolMissing, $"{tool} is not installed or not on PATH (apt-get install -y ffmpeg, or set FFMpegCore's BinaryFolder): {inner.Message}", inner);
}
