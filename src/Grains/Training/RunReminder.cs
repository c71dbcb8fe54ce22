using Microsoft.Extensions.Logging;

namespace LvMae.Grains.Training;

/// <summary>
/// The Orleans reminder <see cref="TrainingRunGrain.ResumeReminder"/> a run keeps while it trains (the cluster's reminder
/// table), so that after a crash its next tick activates the run on a live silo. Registered once per activation that trains;
/// failures are logged and tried again later, never thrown.
/// </summary>
public sealed class RunReminder(IGrainBase grain, string run, TimeSpan period, ILogger logger)
{
    private bool _on;

    /// <summary>Registers the reminder unless this activation did. A failure is tried again at the next report: the run
    /// trains meanwhile, only a silo loss before then would wait for a call to the run.</summary>
    public async Task KeepAsync()
    {
        if (_on) return;
        try
        {
            await grain.RegisterOrUpdateReminder(TrainingRunGrain.ResumeReminder, period, period);
            _on = true;
        }
        catch (Exception e) { logger.LogWarning("run {Run}: registering the resume reminder failed ({Error}); trying again later", run, e.Message); }
    }

    /// <summary>Removes the reminder (read afresh: the handle of another activation may be stale). A failure is logged; the next
    /// tick finds the run not Training and tries again.</summary>
    public async Task DropAsync()
    {
        _on = false;
        try
        {
            if (await grain.GetReminder(TrainingRunGrain.ResumeReminder) is { } reminder) await grain.UnregisterReminder(reminder);
        }
        catch (Exception e) { logger.LogWarning("run {Run}: removing the resume reminder failed ({Error}); its next tick removes it", run, e.Message); }
    }
}
