using System.Diagnostics.Metrics;

namespace LvMae.Pipeline.Telemetry;

/// <summary>
/// The project's measurements (meter "LvMae"), exported by the silo at /metrics (docs/OPERATIONS.md, "Metrics").
/// OpenTelemetry naming: dotted lower-case names, the unit on the instrument (the Prometheus exporter turns
/// lvmae.training.step.duration in s into lvmae_training_step_duration_seconds), counters without a "total" suffix;
/// rates (registrations/s, segments/s, tokens/s) are the monitoring system's rate() over the counters.
/// </summary>
public static class LvMaeMetrics
{
    public const string MeterName = "LvMae";
    private static readonly Meter Meter = new(MeterName, "1.0");
    /// <summary>The encoder a registration or an embedding is for (few values: one per encoder spec in use).</summary>
    public const string EncoderTag = "lvmae.encoder";

    public static readonly Counter<long> Registrations =
        Meter.CreateCounter<long>("lvmae.video.registrations", "{video}", "Videos newly registered by the video grains of this silo");
    public static readonly Counter<long> SegmentsEmbedded =
        Meter.CreateCounter<long>("lvmae.video.segments.embedded", "{segment}", "Segments embedded (counted when a video reaches Embedded)");
    public static readonly Counter<long> FeedBatches =
        Meter.CreateCounter<long>("lvmae.training.feed.batches", "{batch}", "Batches the training feed handed to a trainer");
    public static readonly Histogram<double> FeedWait =
        Meter.CreateHistogram<double>("lvmae.training.feed.wait.duration", "s", "Time a trainer waited for its next batch (the feed is the bottleneck when it grows)");
    public static readonly Histogram<double> StepDuration =
        Meter.CreateHistogram<double>("lvmae.training.step.duration", "s", "Time of one optimiser step (forward, backward, update)");
    public static readonly Counter<long> TrainedTokens =
        Meter.CreateCounter<long>("lvmae.training.tokens", "{token}", "Segment tokens trained on (rate = tokens/s)");
    public static readonly Histogram<double> CheckpointUpload =
        Meter.CreateHistogram<double>("lvmae.training.checkpoint.upload.duration", "s", "Time to upload one checkpoint to blob storage");
    public static readonly Histogram<double> ProbeDuration =
        Meter.CreateHistogram<double>("lvmae.training.probe.duration", "s", "Time of one probe request (every fit of a checkpoint's probes)");
}
