namespace LvMae.Media;

internal static class SegmentPlanning
{
    private const double Epsilon = 1e-6;

    public static IReadOnlyList<SegmentSpan> Plan(double durationSeconds, SegmentationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        if (!(durationSeconds > Epsilon) || double.IsInfinity(durationSeconds)) return [];

        var length = options.SegmentSeconds;
        var full = (int)Math.Floor((durationSeconds + Epsilon) / length);
        var segments = new List<SegmentSpan>(full + 1);
        for (var i = 0; i < full; i++)
            segments.Add(new SegmentSpan(i, i * length, Math.Min((i + 1) * length, durationSeconds)));
        var start = full * length;
        var rest = durationSeconds - start;
        if (rest > Epsilon && rest + Epsilon >= options.MinLastSegmentSeconds)
            segments.Add(new SegmentSpan(full, start, durationSeconds));
        return segments;
    }

    public static void Validate(SegmentationOptions options)
    {
        if (!(options.SegmentSeconds > 0) || double.IsInfinity(options.SegmentSeconds))
            throw new ArgumentOutOfRangeException(nameof(options), options.SegmentSeconds, "SegmentSeconds must be a positive number of seconds");
        if (!(options.MinLastSegmentSeconds >= 0) || options.MinLastSegmentSeconds > options.SegmentSeconds)
            throw new ArgumentOutOfRangeException(nameof(options), options.MinLastSegmentSeconds, "MinLastSegmentSeconds must be between 0 and SegmentSeconds");
        if (options.FramesPerSegment is < 1 or > 256)
            throw new ArgumentOutOfRangeException(nameof(options), options.FramesPerSegment, "FramesPerSegment must be between 1 and 256");
    }

    /// <summary>The sampling instants of a segment: <paramref name="frames"/> uniformly spaced centres of equal sub-intervals.</summary>
    public static double[] TargetTimes(SegmentSpan segment, int frames)
    {
        var times = new double[frames];
        var step = segment.DurationSeconds / frames;
        for (var k = 0; k < frames; k++) times[k] = segment.StartSeconds + (k + 0.5) * step;
        return times;
    }
}
