using System.Runtime;

namespace LvMae.Model;

/// <summary>
/// Guards optimisation steps against a use-after-free in TorchSharp 0.107: operators hand libtorch temporary
/// <c>Scalar</c>s by raw handle (alpha = 1 in <c>Tensor + Tensor</c>, the scalar maths inside AdamW) and nothing keeps
/// the managed wrapper alive during the native call, so a garbage collection triggered meanwhile by ANOTHER thread
/// can finalise (free) it mid-call: "Expected false to be true ... toFloat", "Unknown scalar type", rarely a
/// segfault. Seen about once per thousands of steps in processes with busy threads (a silo, the demo). Until
/// TorchSharp keeps those temporaries alive, a step runs inside a no-GC region, so no collection can happen
/// while it is in libtorch. Process-wide and not nestable: a step that finds a region already open (another
/// training thread) runs inside that one for as long as it lasts.
/// </summary>
public static class TorchGc
{
    /// <summary>Managed bytes a step may allocate before the runtime ends the region by collecting anyway.</summary>
    public const long DefaultBudgetBytes = 32L << 20;

    public static T NoCollection<T>(Func<T> body, long budgetBytes = DefaultBudgetBytes)
    {
        var started = false;
        try { started = GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(budgetBytes); }
        catch (InvalidOperationException) { /* another thread opened one first */ }
        try { return body(); }
        finally
        {
            if (started && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
                try { GC.EndNoGCRegion(); } catch (InvalidOperationException) { /* the budget ran out: a GC ended it already */ }
        }
    }
}
