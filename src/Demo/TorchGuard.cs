using System.Runtime;
using System.Runtime.InteropServices;

namespace LvMae.Demo;

/// <summary>
/// Works around a use-after-free in TorchSharp's operators: e.g. <c>Tensor + Tensor</c> passes a temporary <c>Scalar</c>
/// (alpha = 1) whose managed wrapper nothing keeps alive during the native call, so a garbage collection in the middle
/// of the call can finalise (free) it; libtorch then reads a freed Scalar ("Expected false to be true ... toFloat",
/// or a segfault). Observed once in ~2000 steps on this loaded machine. The demo runs each training step with no GC
/// allowed (<see cref="GC.TryStartNoGCRegion(long)"/>) and retries a step or a probe once on a libtorch error.
/// </summary>
public static class TorchGuard
{
    /// <summary>Runs <paramref name="body"/> inside a no-GC region of <paramref name="budgetBytes"/> (when the runtime grants one).</summary>
    public static T NoGc<T>(Func<T> body, long budgetBytes = 32L << 20)
    {
        var started = false;
        try { started = GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(budgetBytes); }
        catch (ArgumentOutOfRangeException) { }
        catch (InvalidOperationException) { }
        try { return body(); }
        finally
        {
            if (started && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
                try { GC.EndNoGCRegion(); } catch (InvalidOperationException) { /* the budget ran out: a GC already ended it */ }
        }
    }

    /// <summary>Runs <paramref name="body"/>; on a libtorch error (<see cref="ExternalException"/>) runs it once more.</summary>
    public static T RetryOnce<T>(Func<T> body, Action<ExternalException>? onRetry = null)
    {
        try { return body(); }
        catch (ExternalException e)
        {
            onRetry?.Invoke(e);
            return body();
        }
    }
}
