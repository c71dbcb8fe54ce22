namespace LvMae.Grains.Training;

/// <summary>A probe to run: the checkpoint of <paramref name="Step"/>, one column (null = all), one kind (null = the default set).</summary>
public sealed record ProbeRequest(long Step, string? Column, string? Kind);

/// <summary>
/// One probe at a time, and at most one waiting: a request made while a probe runs replaces the waiting one (the latest
/// wins), so probes never pile up behind a slow one. Used from the grain's turns (single-threaded); a failing probe is
/// the runner's to report and does not stop the queue.
/// </summary>
public sealed class ProbeQueue(Func<ProbeRequest, Task> run)
{
    private ProbeRequest? _waiting;
    private Task _running = Task.CompletedTask;

    public bool Busy => !_running.IsCompleted;
    public ProbeRequest? Waiting => _waiting;

    /// <summary>Completes when the queue is empty (for callers that must wait: delete, tests).</summary>
    public Task Idle => _running;

    public void Request(ProbeRequest request)
    {
        if (Busy)
        {
            _waiting = request;
            return;
        }
        _running = DrainAsync(request);
    }

    private async Task DrainAsync(ProbeRequest first)
    {
        for (ProbeRequest? next = first; next is not null; next = Take())
        {
            try { await run(next); }
            catch (Exception) { /* the runner reports its own failures */ }
        }
    }

    private ProbeRequest? Take()
    {
        var next = _waiting;
        _waiting = null;
        return next;
    }
}
