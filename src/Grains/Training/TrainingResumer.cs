using LvMae.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LvMae.Grains.Training;

/// <summary>
/// Runs in every silo: periodically pings the runs the registry lists as Training (<see cref="ITrainingRunGrain.ContinueTraining"/>),
/// so a run lost with a silo is activated again (on a GPU silo when one is left) and resumes from its latest checkpoint. A run
/// the registry still lists as Training a moment after it stopped is left stopped (the grain's stored state decides). Idempotent.
/// </summary>
public sealed class TrainingResumer(IGrainFactory grains, IOptions<TrainingOptions> options, ILogger<TrainingResumer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ResumeSweepInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try { await SweepAsync(); }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
            catch (Exception e) { logger.LogDebug(e, "training resume sweep failed (silo starting or stopping?)"); }
        }
    }

    public async Task<int> SweepAsync()
    {
        var runs = await grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).List();
        var training = runs.Where(r => r.State == nameof(TrainingState.Training)).ToList();
        await Task.WhenAll(training.Select(r => grains.GetGrain<ITrainingRunGrain>(r.Name).ContinueTraining()));
        return training.Count;
    }
}
