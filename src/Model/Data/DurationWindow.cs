namespace LvMae.Model.Data;

/// <summary>
/// Dynamic duration sampling as the reference loader does it: per sample per step draw a duration
/// uniform in [MinSeconds, MaxSeconds], take duration / segment-seconds tokens (capped by the video
/// and by max tokens) at a random start. Very short videos are tiled first (fewer than 2 segments x8,
/// fewer than 5 x3), so every sample has some context. Pure index arithmetic: no tensors.
/// </summary>
public sealed record DurationWindowOptions
{
    public double MinSeconds { get; init; } = 10;
    public double MaxSeconds { get; init; } = 1280;
    public double SegmentSeconds { get; init; } = 5;
    public int MaxTokens { get; init; } = 256;
}

/// <summary>
/// One drawn window of a video of <paramref name="Segments"/> segments: <paramref name="Length"/> consecutive segments
/// of the (tiled) video from <paramref name="Start"/>. Knowing only the segment count is enough to draw it, so a feed
/// can plan batches by window length before it reads any embedding, then read only the rows the window covers.
/// </summary>
public readonly record struct WindowSpan(int Segments, int Start, int Length)
{
    /// <summary>Whether the window runs past the last segment into the tiled repeat (short videos only).</summary>
    public bool Wraps => Start + Length > Segments;

    /// <summary>The rows of the video to read: the window's own range, or every row when it wraps.</summary>
    public (int First, int Count) Rows => Wraps ? (0, Segments) : (Start, Length);

    /// <summary>Segment index (into the original video) of window position <paramref name="i"/>.</summary>
    public int SegmentAt(int i) => (Start + i) % Segments;

    public int[] Indices()
    {
        var indices = new int[Length];
        for (var i = 0; i < Length; i++) indices[i] = SegmentAt(i);
        return indices;
    }
}

public static class DurationWindow
{
    /// <summary>How many times a video of <paramref name="segments"/> segments is tiled before windowing.</summary>
    public static int RepeatFactor(int segments) => segments < 2 ? 8 : segments < 5 ? 3 : 1;

    /// <summary>Draws one window: a duration uniform in [MinSeconds, MaxSeconds] at a uniform start.</summary>
    public static WindowSpan Draw(int segments, DurationWindowOptions options, Random rng)
    {
        if (segments <= 0) throw new ArgumentOutOfRangeException(nameof(segments), "a video needs at least one segment");
        var tiled = segments * RepeatFactor(segments);
        var seconds = options.MinSeconds + rng.NextDouble() * (options.MaxSeconds - options.MinSeconds);
        var tokens = Math.Clamp((int)(seconds / options.SegmentSeconds), 1, Math.Min(tiled, options.MaxTokens));
        var start = rng.Next(0, tiled - tokens + 1);
        return new WindowSpan(segments, start, tokens);
    }

    /// <summary>Segment indices (into the original video) of one sampled window.</summary>
    public static int[] Sample(int segments, DurationWindowOptions options, Random rng) => Draw(segments, options, rng).Indices();
}
