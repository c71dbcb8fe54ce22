using Orleans.Storage;

namespace LvMae.Grains.Training;

/// <summary>
/// A run's state writes, one after another (a background turn and a call may both want to write), each retried with
/// exponential backoff when storage fails (a blip must not end a run whose trainer is fine). A conflict
/// (<see cref="InconsistentStateException"/>: another activation wrote) is not retried: it is the caller's to handle.
/// </summary>
public sealed class RunStateWriter(Func<Task> write, int attempts, TimeSpan firstDelay, Action<Exception, int, TimeSpan>? onRetry = null)
{
    private Task _last = Task.CompletedTask;

    /// <summary>Writes the state as it is when this write's turn comes; throws the last error once every attempt failed.</summary>
    public Task SaveAsync()
    {
        var previous = _last;
        return _last = AfterAsync(previous);
    }

    private async Task AfterAsync(Task previous)
    {
        try { await previous; } catch (Exception) { /* observed by its own caller */ }
        var delay = firstDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await write();
                return;
            }
            catch (Exception e) when (e is not InconsistentStateException && attempt < attempts)
            {
                onRetry?.Invoke(e, attempt, delay);
                await Task.Delay(delay);
                delay *= 2;
            }
        }
    }
}
