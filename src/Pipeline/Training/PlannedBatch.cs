using LvMae.Model.Data;

namespace LvMae.Pipeline;

/// <summary>
/// One video's window in an epoch's plan. Drawn from the video's segment count alone, with an RNG derived from
/// (seed, epoch, video id), so it never depends on load order or timing, and it is known before anything is read.
/// </summary>
public sealed record PlannedWindow(EmbeddedVideoDescriptor Video, WindowSpan Window)
{
    public int Length => Window.Length;

    public static PlannedWindow Draw(int seed, long epoch, EmbeddedVideoDescriptor video, int segments, DurationWindowOptions options) =>
        new(video, DurationWindow.Draw(segments, options, new Random(SampleSeeds.ForSample(seed, epoch, video.VideoId))));
}

/// <summary>A batch of an epoch's plan: its windows, and its position in the epoch (the order batches are fed in).</summary>
public sealed record PlannedBatch(long Epoch, int IndexInEpoch, IReadOnlyList<PlannedWindow> Windows)
{
    public int LongestWindow => Windows.Max(w => w.Length);
}
