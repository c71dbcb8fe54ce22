namespace LvMae.Grains.Training;

/// <summary>Runs a synchronous body on a fresh background thread (TorchSharp dispose scopes are per thread: never on the
/// Orleans scheduler, never across an await) and completes a task with its result.</summary>
public static class DedicatedThread
{
    public static Task<T> Run<T>(string name, Func<T> body)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { done.SetResult(body()); }
            catch (OperationCanceledException e) { done.TrySetCanceled(e.CancellationToken); }
            catch (Exception e) { done.SetException(e); }
        })
        { IsBackground = true, Name = name };
        thread.Start();
        return done.Task;
    }
}
