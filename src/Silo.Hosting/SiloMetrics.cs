using System.Diagnostics.Metrics;
using LvMae.Contracts;
using LvMae.Grains;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace LvMae.Silo;

/// <summary>
/// The silo's gauges (meter "LvMae.Silo", exported at /metrics with "LvMae" and Orleans' own): videos per stage, from
/// the corpus summary refreshed every <see cref="Refresh"/> (every silo exports the same corpus-wide figure: aggregate
/// with max, not sum), and this silo's media jobs (running, waiting, capacity).
/// </summary>
public sealed class SiloMetrics : BackgroundService
{
    public const string MeterName = "LvMae.Silo";
    public static readonly TimeSpan Refresh = TimeSpan.FromSeconds(15);

    private readonly IGrainFactory _grains;
    private readonly ILogger<SiloMetrics> _logger;
    private volatile CorpusSummary? _summary;
    private readonly WebConsole.IngestionTracker? _ingestion;

    public SiloMetrics(IMeterFactory meters, IGrainFactory grains, MediaJobLimiter limiter, ILocalSiloDetails silo, ILogger<SiloMetrics> logger,
        WebConsole.IngestionTracker? ingestion = null)
    {
        _grains = grains;
        _ingestion = ingestion;
        _logger = logger;
        // Tagged with the silo: several silos in one process (tests, `lvmae demo`) share the meter listeners.
        _silo = new KeyValuePair<string, object?>(SiloTag, silo.SiloAddress.ToParsableString());
        var meter = meters.Create(MeterName);
        meter.CreateObservableGauge("lvmae.videos", ObserveStages, "{video}", "Videos per stage in the corpus index (same on every silo)");
        meter.CreateObservableUpDownCounter("lvmae.media.jobs.running", () => new Measurement<int>(limiter.Running, _silo), "{job}", "Media jobs (download, ffmpeg, encoder) running on this silo");
        meter.CreateObservableUpDownCounter("lvmae.media.jobs.waiting", () => new Measurement<int>(limiter.Waiting, _silo), "{job}", "Media jobs queued for a slot on this silo");
        meter.CreateObservableUpDownCounter("lvmae.media.jobs.capacity", () => new Measurement<int>(limiter.Capacity, _silo), "{job}", "Media job slots on this silo");
    }

    public const string SiloTag = "lvmae.silo";
    private readonly KeyValuePair<string, object?> _silo;

    private IEnumerable<Measurement<int>> ObserveStages()
    {
        if (_summary is not { } summary) yield break;
        foreach (var stage in Enum.GetValues<VideoStage>())
            yield return new Measurement<int>(summary.ByStage.GetValueOrDefault(stage), _silo, new KeyValuePair<string, object?>("lvmae.video.stage", stage.ToString()));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                _summary = await _grains.SummaryAsync();
                _ingestion?.Observe(_summary); // the console's ingestion rate and ETA
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Storage or the cluster is not up yet (or down): keep the last figures, try again next time.
                _logger.LogDebug("metrics: corpus summary unavailable ({Error})", e.Message);
            }
            try { await Task.Delay(Refresh, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
