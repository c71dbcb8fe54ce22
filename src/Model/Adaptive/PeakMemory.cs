namespace LvMae.Model.Adaptive;

/// <summary>
/// Peak resident memory of this process over a region of code (Linux; 0 where /proc is missing).
/// A dedicated thread samples VmRSS from /proc/self/statm every few milliseconds while the tracker
/// is alive. (Resetting the kernel's VmHWM by writing 5 to /proc/self/clear_refs would be exact,
/// but runs that did so crashed now and then inside libtorch with corrupted Scalars, 4 of 9 vs 0 of
/// 3 without, so we only read.) CPU only: CUDA memory lives outside RSS.
/// </summary>
public sealed class PeakMemory : IDisposable
{
    private readonly Thread thread;
    private volatile bool stop;
    private long peak;

    private PeakMemory(int intervalMs)
    {
        peak = CurrentRssBytes();
        thread = new Thread(() =>
        {
            while (!stop)
            {
                var rss = CurrentRssBytes();
                if (rss > Interlocked.Read(ref peak)) Interlocked.Exchange(ref peak, rss);
                Thread.Sleep(intervalMs);
            }
        }) { IsBackground = true, Name = "peak-rss" };
        thread.Start();
    }

    /// <summary>Starts sampling; read <see cref="PeakBytes"/> at any time, dispose to stop.</summary>
    public static PeakMemory Track(int intervalMs = 5) => new(intervalMs);

    /// <summary>Highest RSS seen since <see cref="Track"/> (including now).</summary>
    public long PeakBytes => Math.Max(Interlocked.Read(ref peak), CurrentRssBytes());

    public static long CurrentRssBytes()
    {
        try
        {
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1]) * Environment.SystemPageSize;
        }
        catch (IOException) { return 0; }
        catch (UnauthorizedAccessException) { return 0; }
    }

    public void Dispose()
    {
        stop = true;
        thread.Join();
    }
}
