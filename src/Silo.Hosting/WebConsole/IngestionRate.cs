using LvMae.Contracts;

namespace LvMae.Silo.WebConsole;

/// <summary>How fast the corpus is finishing (Embedded or Failed per second) and when the unfinished videos should be done.</summary>
public sealed record IngestionRate(int Unfinished, double? PerSecond, TimeSpan? Eta, TimeSpan Window)
{
    public static int UnfinishedOf(CorpusSummary s) =>
        s.ByStage.GetValueOrDefault(VideoStage.Registered) + s.ByStage.GetValueOrDefault(VideoStage.Probed) + s.ByStage.GetValueOrDefault(VideoStage.Segmented);

    public static int FinishedOf(CorpusSummary s) => s.ByStage.GetValueOrDefault(VideoStage.Embedded) + s.ByStage.GetValueOrDefault(VideoStage.Failed);
}

/// <summary>
/// Samples of the corpus summary over time (the silo's metrics refresh and each console corpus page feed it), kept for
/// <see cref="Keep"/>: the rate is the finished videos gained between the oldest and the newest sample, per second.
/// One per silo; thread-safe.
/// </summary>
public sealed class IngestionTracker(TimeProvider? clock = null)
{
    public static readonly TimeSpan Keep = TimeSpan.FromMinutes(5);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Queue<(DateTimeOffset At, int Finished)> _samples = new();
    private readonly Lock _lock = new();

    public IngestionRate Observe(CorpusSummary summary)
    {
        var now = _clock.GetUtcNow();
        lock (_lock)
        {
            _samples.Enqueue((now, IngestionRate.FinishedOf(summary)));
            while (_samples.Count > 2 && now - _samples.Peek().At > Keep) _samples.Dequeue();
            return Estimate(_samples.ToList(), IngestionRate.UnfinishedOf(summary));
        }
    }

    /// <summary>The rate over <paramref name="samples"/> (oldest first); none over less than 2 s or without progress.</summary>
    public static IngestionRate Estimate(IReadOnlyList<(DateTimeOffset At, int Finished)> samples, int unfinished)
    {
        if (samples.Count < 2) return new IngestionRate(unfinished, null, null, TimeSpan.Zero);
        var (first, last) = (samples[0], samples[^1]);
        var window = last.At - first.At;
        if (window < TimeSpan.FromSeconds(2)) return new IngestionRate(unfinished, null, null, window);
        var rate = Math.Max(0, last.Finished - first.Finished) / window.TotalSeconds;
        TimeSpan? eta = rate > 0 ? TimeSpan.FromSeconds(Math.Min(unfinished / rate, TimeSpan.FromDays(365).TotalSeconds)) : null;
        return new IngestionRate(unfinished, rate, unfinished == 0 ? TimeSpan.Zero : eta, window);
    }
}
