namespace LvMae.Grains.Training;

/// <summary>
/// A run's time per step for its ETA: an exponentially weighted mean of step durations (weight 0.05, about the last 20
/// steps), so the ETA does not jump with one slow or fast step (a GC pause, a long batch); it once swung between 4 min
/// and 1 h 22 min within 10 steps of one run.
/// </summary>
public sealed class StepTimeAverage(double weight = 0.05)
{
    private double? _seconds;

    public void Add(TimeSpan step)
    {
        var s = step.TotalSeconds;
        if (s <= 0) return;
        _seconds = _seconds is { } mean ? mean + weight * (s - mean) : s;
    }

    /// <summary>A new average with one more step; this one stays as it is (<see cref="RunRecorder"/> changes nothing in place).</summary>
    public StepTimeAverage With(TimeSpan step)
    {
        var next = new StepTimeAverage(weight) { _seconds = _seconds };
        next.Add(step);
        return next;
    }

    /// <summary>Time for <paramref name="remainingSteps"/> more steps; null before the first step.</summary>
    public TimeSpan? Eta(long remainingSteps) => _seconds is { } mean ? TimeSpan.FromSeconds(mean * Math.Max(0, remainingSteps)) : null;
}
