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
        var staleBefore = DateTimeOffset.UtcNow - staleAfter;
        var poked = 0;
        string? after = null;
        while (true)
        {
            var page = await grains.QueryAsync(new VideoQuery { StaleBefore = staleBefore, After = after, Limit = 500 });
            if (page.Items.Count == 0) break;
            foreach (var chunk in page.Items.Chunk(50))
            {
                cancellationToken.ThrowIfCancellationRequested();
                await Task.WhenAll(chunk.Select(e => grains.GetGrain<IVideoGrain>(e.Id).Resume()));
            }
            poked += page.Items.Count;
            after = page.Items[^1].Id;
        }
        if (poked > 0) logger.LogDebug("resume sweep: poked {Count} unfinished video(s)", poked);
        return poked;
    }
}
