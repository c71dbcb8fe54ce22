using System.Diagnostics;
using System.Runtime;
using System.Runtime.CompilerServices;

namespace LvMae.Model;

/// <summary>How <see cref="TorchGc.Guard{T}"/> protects a libtorch call.</summary>
public enum TorchGcMechanism
{
    /// <summary>The finalizer thread is parked for the duration of the call (the default).</summary>
    ParkFinalizers,
    /// <summary>The mechanism <see cref="ParkFinalizers"/> replaced: a no-GC region per call (kept to measure against, bench/).</summary>
    NoGcRegion,
    /// <summary>No protection (benchmarks only: shows what the guard prevents).</summary>
    None,
}

/// <summary>
/// Contains a use-after-free in TorchSharp 0.107: operators hand libtorch temporary <c>Scalar</c>s by raw handle
/// (alpha = 1 in <c>Tensor + Tensor</c>, the scalar maths inside AdamW). A Scalar has a finalizer (no SafeHandle, no
/// dispose scope tracks it), and nothing keeps the managed wrapper alive during the native call, so a garbage
/// collection triggered meanwhile by ANOTHER thread can queue it and the finalizer thread free it mid-call:
/// "Expected false to be true ... toFloat", "Unknown scalar type", rarely a segfault. Seen about once per thousands
/// of steps in processes with busy threads (a silo, the demo).
/// <para>
/// The free happens on the finalizer thread, so <see cref="Guard{T}"/> runs its body while that thread is parked
/// inside a sentinel's finalizer: collections may happen as often as they like, but nothing is finalised until the
/// body is over. Parking costs draining the finalizer queue, one gen-0 collection and a hand-off to the finalizer
/// thread, none of which grows with the managed heap, and consecutive calls share a park (it lingers
/// <see cref="Linger"/> after a call and ends after <see cref="MaxShare"/>, when the finalizers get their turn). It
/// replaced a no-GC region per step, whose start is a full blocking collection whenever the budget is not free (cost
/// growing with the heap) and whose protection ended as soon as all threads together allocated past its budget
/// mid-step (bench/: `torchgc` suite, crash rate and step time).
/// </para>
/// <para>
/// Process-wide: guarded calls on several threads share one park. A guarded body that waits for pending finalizers
/// itself (TorchSharp's tensor factories call <c>GC.WaitForPendingFinalizers</c> after a native failure, before they
/// retry) would wait on the park forever: when every guarded thread has sat in a managed wait for
/// <see cref="StuckAfter"/>, the park is given up for the rest of that call (counted in <see cref="EarlyReleases"/>).
/// </para>
/// </summary>
public static class TorchGc
{
    /// <summary>A park this old is not joined: a newcomer waits for it to end, so the finalizer queue drains.</summary>
    public static readonly TimeSpan MaxShare = TimeSpan.FromSeconds(5);
    /// <summary>How long a park outlives its last guarded call, for the next one (the next training step) to join.</summary>
    public static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(200);
    /// <summary>Guarded threads all in a managed wait this long are taken as waiting for the finalizers (see above).</summary>
    public static readonly TimeSpan StuckAfter = TimeSpan.FromSeconds(1);

    /// <summary>Process-wide; change it only between guarded calls (benchmarks compare the mechanisms).</summary>
    public static TorchGcMechanism Mechanism { get; set; } = TorchGcMechanism.ParkFinalizers;

    /// <summary>Times the finalizer thread was parked (each a gen-0 collection); consecutive calls share parks.</summary>
    public static long Parks => Interlocked.Read(ref FinalizerPark.Parks);

    /// <summary>Parks ended early because a guarded thread waited for the finalizers (see <see cref="TorchGc"/>).</summary>
    public static long EarlyReleases => Interlocked.Read(ref FinalizerPark.EarlyReleases);

    /// <summary>Tests: a collection while each park's sentinel is still referenced (promoting it out of gen 0).</summary>
    internal static bool PromoteSentinels { get; set; }

    /// <summary>Runs <paramref name="body"/> (libtorch calls) so that no finalizer runs meanwhile.</summary>
    public static T Guard<T>(Func<T> body) => Mechanism switch
    {
        TorchGcMechanism.ParkFinalizers => FinalizerPark.Run(body),
        TorchGcMechanism.NoGcRegion => NoGcRegion.Run(body),
        _ => body(),
    };

    /// <summary>
    /// The finalizer thread held in a sentinel's finalizer while guarded bodies run. A park lingers briefly after its
    /// last call so back-to-back steps share it, and ends after <see cref="MaxShare"/> at the latest (then the queue
    /// drains), so parking costs one gen-0 collection every couple of seconds of training, not one per step.
    /// </summary>
    private static class FinalizerPark
    {
        private static readonly object Sync = new();
        private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
        private static Park? s_current;
        [ThreadStatic] private static int t_depth;
        internal static long Parks;
        internal static long EarlyReleases;

        public static T Run<T>(Func<T> body)
        {
            if (t_depth > 0) return body();   // nested: the outer call holds the park already
            var park = Enter();
            t_depth++;
            try { return body(); }
            finally
            {
                t_depth--;
                Exit(park);
            }
        }

        private static Park Enter()
        {
            bool starter;
            Park park;
            lock (Sync)
            {
                // Joining an old park would keep finalizers waiting indefinitely while calls follow each other, and an
                // abandoned one holds nothing: wait for it to end.
                while (s_current is { Joinable: false }) Monitor.Wait(Sync);
                starter = s_current is null;
                park = s_current ??= new Park();
                park.Holders.Add(Thread.CurrentThread);
            }
            try
            {
                if (starter) park.Start();
                else park.Parked.Wait();
            }
            catch
            {
                Exit(park);
                throw;
            }
            return park;
        }

        private static void Exit(Park park)
        {
            lock (Sync)
            {
                park.Holders.Remove(Thread.CurrentThread);
                if (park.Holders.Count > 0) return;
                if (park.Joinable) park.IdleSince = Stopwatch.GetTimestamp();   // lingers: the finalizer thread lets itself go
                else Release(park);
            }
        }

        /// <summary>Lets the finalizer thread go on (under <see cref="Sync"/>).</summary>
        private static void Release(Park park)
        {
            park.Released.Set();
            if (ReferenceEquals(s_current, park)) s_current = null;
            Monitor.PulseAll(Sync);
        }

        private sealed class Park
        {
            public readonly ManualResetEventSlim Parked = new(false);
            public readonly ManualResetEventSlim Released = new(false);
            /// <summary>Threads inside a guarded body (guarded by <see cref="Sync"/>).</summary>
            public readonly List<Thread> Holders = [];
            /// <summary>When the last holder left (guarded by <see cref="Sync"/>).</summary>
            public long IdleSince;
            private long _parkedAt;
            private volatile bool _abandoned;

            /// <summary>Not abandoned (a guarded thread waited for the finalizers) and not yet due to end.</summary>
            public bool Joinable => !_abandoned && ParkedFor <= MaxShare;

            private TimeSpan ParkedFor => Parked.IsSet ? Stopwatch.GetElapsedTime(Interlocked.Read(ref _parkedAt)) : TimeSpan.Zero;

            /// <summary>Parks the finalizer thread; returns once it is inside the sentinel's finalizer.</summary>
            public void Start()
            {
                // Drain what died before (the queue is LIFO: left behind a sentinel it would wait for the next gap),
                // then queue a sentinel with a gen-0 collection and wait for the finalizer thread to reach it.
                GC.WaitForPendingFinalizers();
                var sentinel = Sentinel.Create(this);
                GC.Collect(0, GCCollectionMode.Forced, blocking: true);
                Interlocked.Increment(ref Parks);
                // Still reachable after 100 ms: a collection on another thread promoted it out of gen 0 while Create held it,
                // or a debugger keeps it: collect every generation. The check must not leave the sentinel in a slot of this
                // frame (TryGetTarget(out _) here did, and kept it alive forever: a deadlock seen with two training runs).
                while (!Parked.Wait(TimeSpan.FromMilliseconds(100)))
                    if (Sentinel.IsAlive(sentinel)) GC.Collect();
            }

            /// <summary>Runs on the finalizer thread, inside the sentinel's finalizer, until the park ends.</summary>
            public void Hold()
            {
                Interlocked.Exchange(ref _parkedAt, Stopwatch.GetTimestamp());
                Parked.Set();
                var stuckSince = (long?)null;
                while (!Released.Wait(Poll))
                {
                    bool waiting;
                    lock (Sync)
                    {
                        if (Holders.Count == 0 && (Stopwatch.GetElapsedTime(IdleSince) > Linger || !Joinable))
                        {
                            Release(this);
                            return;
                        }
                        waiting = Holders.Count > 0 && Holders.All(t => (t.ThreadState & System.Threading.ThreadState.WaitSleepJoin) != 0);
                    }
                    if (!waiting) { stuckSince = null; continue; }
                    stuckSince ??= Stopwatch.GetTimestamp();
                    if (Stopwatch.GetElapsedTime(stuckSince.Value) < StuckAfter) continue;
                    _abandoned = true;   // its holders finish unguarded; newcomers wait for them (Joinable)
                    Interlocked.Increment(ref EarlyReleases);
                    return;
                }
            }
        }

        private sealed class Sentinel
        {
            private readonly Park _park;
            private Sentinel(Park park) => _park = park;

            /// <summary>A sentinel nothing references (not inlined, so no stack slot keeps it); a weak handle to watch it.</summary>
            [MethodImpl(MethodImplOptions.NoInlining)]
            public static WeakReference<Sentinel> Create(Park park)
            {
                var sentinel = new Sentinel(park);
                if (PromoteSentinels) GC.Collect(0);   // tests: what another thread's collection can do at this moment
                return new(sentinel);
            }

            /// <summary>Whether the sentinel is still reachable, without handing it to the caller's frame.</summary>
            [MethodImpl(MethodImplOptions.NoInlining)]
            public static bool IsAlive(WeakReference<Sentinel> sentinel) => sentinel.TryGetTarget(out _);

            ~Sentinel() => _park.Hold();
        }
    }

    /// <summary>The replaced mechanism, as it was: a no-GC region per call (a full blocking GC to start when the budget is not free).</summary>
    private static class NoGcRegion
    {
        private const long BudgetBytes = 32L << 20;

        public static T Run<T>(Func<T> body)
        {
            var started = false;
            try { started = GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(BudgetBytes); }
            catch (InvalidOperationException) { /* another thread opened one first */ }
            try { return body(); }
            finally
            {
                if (started && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
                    try { GC.EndNoGCRegion(); } catch (InvalidOperationException) { /* the budget ran out: a GC ended it already */ }
            }
        }
    }
}
