namespace LvMae.Pipeline;

/// <summary>A video left out of one epoch, and why (missing blob, corrupt .npy, wrong shape...).</summary>
public sealed record SkippedVideo(string VideoId, long Epoch, string Reason, Exception Error);

/// <summary>Live counters of a training feed (thread-safe; read at any time).</summary>
public sealed class TrainingFeedStats
{
    private long _listed, _loaded, _skipped, _batches, _samples, _paddedTokens, _validTokens, _inFlight, _peakInFlight, _epoch = -1;

    /// <summary>Current epoch being listed (-1 before the first).</summary>
    public long Epoch => Interlocked.Read(ref _epoch);
    public long VideosListed => Interlocked.Read(ref _listed);
    public long SamplesLoaded => Interlocked.Read(ref _loaded);
    public long VideosSkipped => Interlocked.Read(ref _skipped);
    public long BatchesEmitted => Interlocked.Read(ref _batches);
    public long SamplesEmitted => Interlocked.Read(ref _samples);
    public long PaddedTokensEmitted => Interlocked.Read(ref _paddedTokens);
    public long ValidTokensEmitted => Interlocked.Read(ref _validTokens);
    /// <summary>Most samples ever loaded and not yet in a batch handed to the output buffer.</summary>
    public long PeakSamplesInPipeline => Interlocked.Read(ref _peakInFlight);

    internal void EpochListed(long epoch, int videos)
    {
        Interlocked.Exchange(ref _epoch, epoch);
        Interlocked.Add(ref _listed, videos);
    }

    internal void Loaded()
    {
        Interlocked.Increment(ref _loaded);
        var now = Interlocked.Increment(ref _inFlight);
        for (var peak = Interlocked.Read(ref _peakInFlight); now > peak; peak = Interlocked.Read(ref _peakInFlight))
            if (Interlocked.CompareExchange(ref _peakInFlight, now, peak) == peak) break;
    }

    internal void Skipped() => Interlocked.Increment(ref _skipped);

    internal void Emitted(TrainingBatch batch)
    {
        Interlocked.Add(ref _inFlight, -batch.Count);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _samples, batch.Count);
        Interlocked.Add(ref _paddedTokens, batch.PaddedTokens);
        Interlocked.Add(ref _validTokens, batch.ValidTokens);
    }
}
