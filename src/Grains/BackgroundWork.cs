namespace LvMae.Grains;

/// <summary>
/// A grain's one background task: started from a grain call (so it runs on the grain's scheduler, between its calls) and
/// cancelled, then awaited briefly, when the grain deactivates.
/// </summary>
public sealed class BackgroundWork
{
    private CancellationTokenSource? _cts;
    private Task? _task;

    public bool Running => _task is { IsCompleted: false };

    public void Start(Func<CancellationToken, Task> work)
    {
        _cts?.Dispose();
        _cts = new CancellationTokenSource();
        _task = work(_cts.Token);
    }

    /// <summary>Cancels the task and waits up to <paramref name="patience"/> for it to end (a deactivation does not wait longer).</summary>
    public async Task StopAsync(TimeSpan patience, CancellationToken cancellationToken)
    {
        if (_cts is null) return;
        await _cts.CancelAsync();
        if (_task is not null)
            try { await _task.WaitAsync(patience, cancellationToken); }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException) { }
    }
}
