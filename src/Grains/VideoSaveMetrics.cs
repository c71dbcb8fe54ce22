using LvMae.Pipeline.Telemetry;

namespace LvMae.Grains;

/// <summary>
/// A video's metrics count what storage holds: a registration or an embedding is noted when the state changes and counted
/// when a write of it succeeds (a write that fails counts nothing; its resend counts once).
/// </summary>
public sealed class VideoSaveMetrics
{
    private bool _registration;
    private int? _segments;

    public void Registered() => _registration = true;

    public void Embedded(int segments) => _segments = segments;

    /// <summary>The state of a video with <paramref name="encoder"/> reached storage: what was noted is counted, once.</summary>
    public void Saved(string? encoder)
    {
        var tag = new KeyValuePair<string, object?>(LvMaeMetrics.EncoderTag, encoder);
        if (_registration) LvMaeMetrics.Registrations.Add(1, tag);
        if (_segments is { } segments) LvMaeMetrics.SegmentsEmbedded.Add(segments, tag);
        _registration = false;
        _segments = null;
    }
}
