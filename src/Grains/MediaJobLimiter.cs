namespace LvMae.Grains;

/// <summary>
/// Per-silo bound on concurrent media jobs (download + ffmpeg + encoder). A video takes a slot before it downloads its
/// source and gives it back after its scratch files are gone, so scratch disk is bounded by slots x largest video.
/// </summary>
public sealed class MediaJobLimiter : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private int _running;
    private int _waiting;
    private long _completed;
    private int _peak;

    public MediaJobLimiter(int maxConcurrentJobs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrentJobs, 1);
        Capacity = maxConcurrentJobs;
        _slots = new SemaphoreSlim(maxConcurrentJobs, maxConcurrentJobs);
    }

    public int Capacity { get; }
    public int Running => Volatile.Read(ref _running);
    public int Waiting => Volatile.Read(ref _waiting);
    public long Completed => Interlocked.Read(ref _completed);
    /// <summary>Highest number of jobs seen running at once (tests check the bound).</summary>
    public int PeakRunning => Volatile.Read(ref _peak);

    /// <summary>Waits for a slot; dispose the returned lease to give it back.</summary>
    public async Task<IAsyncDisposable> AcquireAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiting);
        try { await _slots.WaitAsync(cancellationToken); }
        finally { Interlocked.Decrement(ref _waiting); }
        var running = Interlocked.Increment(ref _running);
        for (var peak = PeakRunning; running > peak; peak = PeakRunning)
            if (Interlocked.CompareExchange(ref _peak, running, peak) == peak) break;
        return new Lease(this);
    }

    private void Release()
    {
        Interlocked.Decrement(ref _running);
        Interlocked.Increment(ref _completed);
        _slots.Release();
    }

    private sealed class Lease(MediaJobLimiter owner) : IAsyncDisposable
    {
        private int _released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release();
            return ValueTask.CompletedTask;
        }
    }

    public void Dispose() => _slots.Dispose();
}
