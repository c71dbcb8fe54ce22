using System.Runtime.CompilerServices;

namespace LvMae.Model.Tests;

/// <summary>
/// TorchGc keeps finalizers (TorchSharp's temporary Scalars are freed by theirs) from running during a guarded call,
/// without the full collection per call the no-GC region it replaced needed. Model tests run one at a time
/// (AssemblyInfo), so switching the process-wide mechanism here affects no other test.
/// </summary>
public class TorchGcTests
{
    private static readonly TimeSpan Liveness = TimeSpan.FromSeconds(60);
    /// <summary>How long a finalizer made due is given to run (unguarded it runs within microseconds).</summary>
    private static readonly TimeSpan FinalizerGrace = TimeSpan.FromMilliseconds(500);

    private sealed class Tracked(ManualResetEventSlim finalized)
    {
        ~Tracked() => finalized.Set();
    }

    /// <summary>A finalizable object nothing references (not inlined: no stack slot keeps it alive).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Abandon(ManualResetEventSlim finalized) => _ = new Tracked(finalized);

    /// <summary>Inside <paramref name="guard"/>: an object dies and is collected; did its finalizer run before the guard ended?</summary>
    private static bool FinalizerRanInside(Func<Func<bool>, bool> guard, ManualResetEventSlim finalized) => guard(() =>
    {
        Abandon(finalized);
        GC.Collect();
        return finalized.Wait(FinalizerGrace);
    });

    [Fact]
    public void No_finalizer_runs_inside_a_guarded_call_and_the_ones_made_due_run_after_it()
    {
        using var guarded = new ManualResetEventSlim();
        Assert.False(FinalizerRanInside(TorchGc.Guard, guarded));
        Assert.True(guarded.Wait(Liveness));   // released when the call ended

        using var unguarded = new ManualResetEventSlim();
        Assert.True(FinalizerRanInside(body => body(), unguarded));   // the check above can fail: unguarded, it runs at once
    }

    [Fact]
    public void Entering_costs_a_gen0_collection_not_a_full_one_unlike_the_no_gc_region_it_replaced()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();   // and any park lingering from an earlier test has ended
        var (gen0, gen2) = (GC.CollectionCount(0), GC.CollectionCount(2));
        Assert.Equal(42, TorchGc.Guard(() => 42));
        Assert.Equal(gen2, GC.CollectionCount(2));
        Assert.True(GC.CollectionCount(0) > gen0);   // the collection that queued the sentinel

        try
        {
            TorchGc.Mechanism = TorchGcMechanism.NoGcRegion;
            TorchGc.Guard(() => 0);
            Assert.True(GC.CollectionCount(2) > gen2, "a no-GC region starts with a full collection (counted even when the budget was free)");
        }
        finally { TorchGc.Mechanism = TorchGcMechanism.ParkFinalizers; }
    }

    [Fact]
    public void Back_to_back_calls_share_a_park_which_still_ends_within_the_maximum_share()
    {
        GC.WaitForPendingFinalizers();   // any earlier park has ended (a lingering park holds this until it lets go)
        var parks = TorchGc.Parks;
        for (var i = 0; i < 20; i++) TorchGc.Guard(() => i);
        Assert.Equal(parks + 1, TorchGc.Parks);   // one gen-0 collection for twenty steps

        // Steps that never pause: the park is still ended after MaxShare, and the finalizers made due meanwhile run.
        using var finalized = new ManualResetEventSlim();
        Assert.False(FinalizerRanInside(TorchGc.Guard, finalized));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var early = TorchGc.EarlyReleases;
        while (!finalized.IsSet && watch.Elapsed < Liveness) TorchGc.Guard(() => 0);
        Assert.True(finalized.IsSet);
        // The park may end between two calls (the finalizer runs, the loop stops before starting another): the next call
        // starts a new one. It ended by MaxShare, not because a holder looked stuck.
        TorchGc.Guard(() => 0);
        Assert.True(TorchGc.Parks >= parks + 2);
        Assert.Equal(early, TorchGc.EarlyReleases);
    }

    [Fact]
    public void Nested_calls_run_inside_the_outer_one_and_errors_propagate_and_release_the_park()
    {
        using var finalized = new ManualResetEventSlim();
        var inner = TorchGc.Guard(() => FinalizerRanInside(TorchGc.Guard, finalized));
        Assert.False(inner);
        Assert.True(finalized.Wait(Liveness));

        Assert.Throws<InvalidDataException>(() => TorchGc.Guard<int>(() => throw new InvalidDataException()));
        using var afterError = new ManualResetEventSlim();
        Assert.False(FinalizerRanInside(TorchGc.Guard, afterError));
        Assert.True(afterError.Wait(Liveness));
    }

    [Fact]
    public void Guarded_calls_on_two_threads_share_one_park_and_finalizers_run_once_both_end()
    {
        using var finalized = new ManualResetEventSlim();
        var early = TorchGc.EarlyReleases;
        var inside = 0;
        bool Body()
        {
            // Meet the other thread inside (spinning: a guarded thread in a managed wait looks like one stuck on the finalizers).
            Interlocked.Increment(ref inside);
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (Volatile.Read(ref inside) < 2)
                if (waited.Elapsed > Liveness) throw new TimeoutException("the other thread never entered");
                else Thread.SpinWait(100);
            return FinalizerRanInside(TorchGc.Guard, finalized);   // nested in this thread's own guarded call
        }
        bool? otherRan = null;
        var other = new Thread(() => otherRan = TorchGc.Guard(Body));
        other.Start();
        bool ran;
        try { ran = TorchGc.Guard(Body); }
        finally { Assert.True(other.Join(Liveness)); }   // before the event is disposed, whatever happened here
        Assert.False(ran);
        Assert.False(otherRan);
        Assert.True(finalized.Wait(Liveness));
        Assert.Equal(early, TorchGc.EarlyReleases);
    }

    [Fact]
    public void A_guarded_call_that_waits_for_pending_finalizers_is_let_go_instead_of_deadlocking()
    {
        // TorchSharp's tensor factories do this after a native failure, before retrying.
        var early = TorchGc.EarlyReleases;
        var call = new Thread(() => TorchGc.Guard(() =>
        {
            GC.WaitForPendingFinalizers();
            return true;
        }));
        call.Start();
        Assert.True(call.Join(Liveness));
        Assert.Equal(early + 1, TorchGc.EarlyReleases);

        using var after = new ManualResetEventSlim();   // and the next call is protected again
        Assert.False(FinalizerRanInside(TorchGc.Guard, after));
        Assert.True(after.Wait(Liveness));
    }

    [Fact]
    public void A_park_whose_sentinel_was_promoted_out_of_gen_0_still_parks_the_finalizer_thread()
    {
        // Two training runs in one silo deadlocked: another thread's collection promoted a park's sentinel before the
        // park's own gen-0 collection, and the park's liveness check then kept the sentinel reachable forever.
        using var finalized = new ManualResetEventSlim();
        bool? ranInside = null;
        Thread.Sleep(TorchGc.Linger * 3);   // a park an earlier test left lingering ends: this call must start its own
        var parks = TorchGc.Parks;
        TorchGc.PromoteSentinels = true;
        try
        {
            var call = new Thread(() => ranInside = FinalizerRanInside(TorchGc.Guard, finalized));
            call.Start();
            Assert.True(call.Join(Liveness), "the guarded call never returned (its park never started)");
        }
        finally { TorchGc.PromoteSentinels = false; }
        Assert.Equal(parks + 1, TorchGc.Parks);
        Assert.False(ranInside);
        Assert.True(finalized.Wait(Liveness));
    }
}
