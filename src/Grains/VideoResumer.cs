using LvMae.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LvMae.Grains;

/// <summary>
/// Runs in every silo: periodically asks the corpus index for unfinished videos that have not moved for a while and
/// pokes them (<see cref="IVideoGrain.Resume"/>), so work lost with a dead silo restarts on a live one. Idempotent:
/// a video already being worked on ignores the poke.
/// </summary>
public sealed class VideoResumer(IGrainFactory grains, IOptions<ProcessingOptions> options, ILogger<VideoResumer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.ResumeSweepInterval;
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try { await SweepAsync(interval, stoppingToken); }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
            catch (Exception e) { logger.LogDebug(e, "resume sweep failed (silo starting or stopping?)"); }
        }
    }

    public async Task<int> SweepAsync(TimeSpan staleAfter, CancellationToken cancellationToken)
    {
        var page = await grains.QueryAsync(new VideoQuery { StaleBefore = DateTimeOffset.UtcNow - staleAfter, Limit = 1000 });
        foreach (var entry in page.Items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await grains.GetGrain<IVideoGrain>(entry.Id).Resume();
        }
        if (page.Items.Count > 0) logger.LogInformation("resumed {Count} unfinished video(s)", page.Items.Count);
        return page.Items.Count;
    }
}
