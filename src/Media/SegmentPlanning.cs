using System.Collections;

namespace LvMae.Media;

internal static class SegmentPlanning
{
    private const double Epsilon = 1e-6;

    /// <summary>
    /// Consecutive segments covering the duration, computed on demand: the plan costs the same few bytes for a 5 s clip
    /// and for a container that claims 30 years (callers bound what they allocate per segment; the embedder refuses
    /// anything over <see cref="SegmentationOptions.MaxDurationSeconds"/>).
    /// </summary>
    public static IReadOnlyList<SegmentSpan> Plan(double durationSeconds, SegmentationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        if (!(durationSeconds > Epsilon) || double.IsInfinity(durationSeconds)) return [];

        var length = options.SegmentSeconds;
        var full = Math.Floor((durationSeconds + Epsilon) / length);
        var rest = durationSeconds - full * length;
        var count = full + (rest > Epsilon && rest + Epsilon >= options.MinLastSegmentSeconds ? 1 : 0);
        if (count > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(durationSeconds), durationSeconds, $"{durationSeconds:G6} s makes more than {int.MaxValue} segments of {length} s");
        return new SegmentPlan((int)count, length, durationSeconds);
    }

    public static void Validate(SegmentationOptions options)
    {
        if (!(options.SegmentSeconds > 0) || double.IsInfinity(options.SegmentSeconds))
            throw new ArgumentOutOfRangeException(nameof(options), options.SegmentSeconds, "SegmentSeconds must be a positive number of seconds");
        if (!(options.MinLastSegmentSeconds >= 0) || options.MinLastSegmentSeconds > options.SegmentSeconds)
            throw new ArgumentOutOfRangeException(nameof(options), options.MinLastSegmentSeconds, "MinLastSegmentSeconds must be between 0 and SegmentSeconds");
        if (options.FramesPerSegment is < 1 or > 256)
            throw new ArgumentOutOfRangeException(nameof(options), options.FramesPerSegment, "FramesPerSegment must be between 1 and 256");
        if (!(options.MaxDurationSeconds > 0))
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxDurationSeconds, "MaxDurationSeconds must be a positive number of seconds");
        if (!(options.MinDecodableFraction is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.MinDecodableFraction, "MinDecodableFraction must be between 0 and 1");
    }

    /// <summary>The sampling instants of a segment: <paramref name="frames"/> uniformly spaced centres of equal sub-intervals.</summary>
    public static double[] TargetTimes(SegmentSpan segment, int frames)
    {
        var times = new double[frames];
        var step = segment.DurationSeconds / frames;
        for (var k = 0; k < frames; k++) times[k] = segment.StartSeconds + (k + 0.5) * step;
        return times;
    }

    /// <summary>Segment i is [i * length, min((i + 1) * length, duration)); equal segments compare equal (records).</summary>
    private sealed class SegmentPlan(int count, double length, double duration) : IReadOnlyList<SegmentSpan>
    {
        public int Count => count;

        public SegmentSpan this[int index] =>
            (uint)index < (uint)count
                ? new SegmentSpan(index, index * length, Math.Min((index + 1) * length, duration))
                : throw new ArgumentOutOfRangeException(nameof(index), index, $"the plan has {count} segments");

        public IEnumerator<SegmentSpan> GetEnumerator()
        {
            for (var i = 0; i < count; i++) yield return this[i];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
