namespace LvMae.Model.Training;

/// <summary>MAE's schedule per step: linear warm-up from 0 to the peak over <paramref name="WarmupSteps"/>,
/// then half-cosine decay to <paramref name="MinLr"/> at <paramref name="TotalSteps"/> (held after).</summary>
public sealed record LrSchedule(double PeakLr, long WarmupSteps, long TotalSteps, double MinLr = 0)
{
    public double At(long step)
    {
        if (step < WarmupSteps) return PeakLr * step / WarmupSteps;
        if (step >= TotalSteps) return MinLr;
        var progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return MinLr + (PeakLr - MinLr) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>The MAE rule: absolute lr = base lr x effective batch / 256.</summary>
    public static double ScaledLr(double baseLr, int batchSize) => baseLr * batchSize / 256.0;
}
