using System.Globalization;

namespace LvMae.Media;

/// <summary>What the frame sampler delivered for one video: how many segments (a prefix of the plan) and up to when.</summary>
internal sealed class DecodeCoverage
{
    public int Segments { get; private set; }
    /// <summary>Presentation time of the latest frame delivered, in seconds from the start of the video.</summary>
    public double LastFrameSeconds { get; private set; }
    /// <summary>Why the sampler stopped before the plan's end (the stream ran out), when it did.</summary>
    public MediaException? Stopped { get; set; }

    public void Add(SegmentFrames segment)
    {
        Segments++;
        foreach (var t in segment.FrameTimes)
            if (t > LastFrameSeconds) LastFrameSeconds = t;
    }
}

/// <summary>
/// Tells a complete video from one whose frames stop before its declared duration (a file cut mid-stream): such a video
/// is embedded up to where decoding stopped and marked with a <see cref="Truncation"/>, unless less than
/// <see cref="SegmentationOptions.MinDecodableFraction"/> of it decodes, which fails it as Truncated.
/// </summary>
internal static class TruncationCheck
{
    public static Truncation? Assess(string path, VideoInfo info, IReadOnlyList<SegmentSpan> plan, int framesPerSegment,
        DecodeCoverage coverage, SegmentationOptions options)
    {
        var planEnd = plan[^1].EndSeconds;
        var frameSeconds = info.FrameRate > 0 ? 1 / info.FrameRate : 0;
        // The last frame shows until the next one would: it covers one frame interval past its timestamp.
        var decodedEnd = Math.Min(planEnd, coverage.LastFrameSeconds + frameSeconds);
        // Normal streams end within a sampling step (or one frame, for a slideshow) of the plan's end; anything more is missing.
        var step = plan[0].DurationSeconds / framesPerSegment;
        var tolerance = Math.Max(1.0, Math.Max(2 * step, 2 * frameSeconds));
        if (coverage.Stopped is null && coverage.Segments == plan.Count && planEnd - decodedEnd <= tolerance) return null;

        var declared = info.DurationSeconds;
        if (decodedEnd < options.MinDecodableFraction * declared)
        {
            var cause = coverage.Stopped is { } stopped ? $": {stopped.Problem}" : "";
            throw new MediaException(path, MediaErrorKind.Truncated, string.Create(CultureInfo.InvariantCulture,
                $"only {decodedEnd:0.0} of its {declared:0.0} s could be decoded, less than the {options.MinDecodableFraction * 100:0.#}% required (cut short or corrupt){cause}"),
                coverage.Stopped);
        }
        return new Truncation(declared, decodedEnd);
    }
}
