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

public static class DurationWindow
{
    /// <summary>How many times a video of <paramref name="segments"/> segments is tiled before windowing.</summary>
    public static int RepeatFactor(int segments) => segments < 2 ? 8 : segments < 5 ? 3 : 1;

    /// <summary>Segment indices (into the original video) of one sampled window.</summary>
    public static int[] Sample(int segments, DurationWindowOptions options, Random rng)
    {
        if (segments <= 0) throw new ArgumentOutOfRangeException(nameof(segments), "a video needs at least one segment");
        var tiled = segments * RepeatFactor(segments);
        var seconds = options.MinSeconds + rng.NextDouble() * (options.MaxSeconds - options.MinSeconds);
        var tokens = Math.Clamp((int)(seconds / options.SegmentSeconds), 1, Math.Min(tiled, options.MaxTokens));
        var start = rng.Next(0, tiled - tokens + 1);
        var window = new int[tokens];
        for (var i = 0; i < tokens; i++) window[i] = (start + i) % segments;
        return window;
    }
}
