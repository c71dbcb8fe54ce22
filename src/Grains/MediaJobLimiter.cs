namespace LvMae.Grains;

/// <summary>
/// Per-silo bound on concurrent ffmpeg/encoder jobs: ingesting 10,000 videos queues them here instead of starting
/// 10,000 processes. Jobs run on the thread pool, off the Orleans scheduler.
/// </summary>
public sealed class MediaJobLimiter : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private int _running;
    private int _waiting;
    private long _completed;

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
    public int PeakRunning { get; private set; }

    /// <summary>Waits for a slot, then runs <paramref name="job"/> on the thread pool. <paramref name="started"/> runs when the slot is taken.</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> job, CancellationToken cancellationToken, Action? started = null)
    {
        Interlocked.Increment(ref _waiting);
        try { await _slots.WaitAsync(cancellationToken); }
        finally { Interlocked.Decrement(ref _waiting); }
        try
        {
            var running = Interlocked.Increment(ref _running);
            lock (_slots) PeakRunning = Math.Max(PeakRunning, running);
            started?.Invoke();
            return await Task.Run(() => job(cancellationToken), cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _running);
            Interlocked.Increment(ref _completed);
            _slots.Release();
        }
    }

    public void Dispose() => _slots.Dispose();
}
