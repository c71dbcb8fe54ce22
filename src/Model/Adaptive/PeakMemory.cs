namespace LvMae.Model.Adaptive;

/// <summary>
/// Peak resident memory of this process over a region of code (Linux; 0 where /proc is missing).
/// A dedicated thread samples the resident set from /proc/self/statm every few milliseconds while
/// the tracker is alive, without allocating (pread into a fixed buffer): a thread that allocates
/// triggers GCs during libtorch calls on the training thread, and TorchSharp 0.107 seems to let a
/// finalizer free an implicit Scalar mid-call (rare crashes inside Adam.step with a corrupted
/// Scalar, more frequent with an allocating sampler). Track training only, not probing.
/// CPU only: CUDA memory lives outside RSS.
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
            if (!File.Exists("/proc/self/statm")) return;
            using var handle = File.OpenHandle("/proc/self/statm");
            var buffer = new byte[128];
            var pageSize = Environment.SystemPageSize;
            while (!stop)
            {
                var rss = ParseSecondField(buffer.AsSpan(0, RandomAccess.Read(handle, buffer, 0))) * pageSize;
                if (rss > Interlocked.Read(ref peak)) Interlocked.Exchange(ref peak, rss);
                Thread.Sleep(intervalMs);
            }
        }) { IsBackground = true, Name = "peak-rss" };
        thread.Start();
    }

    /// <summary>statm is "size resident shared ..." in pages; parse the second number in place.</summary>
    private static long ParseSecondField(ReadOnlySpan<byte> text)
    {
        var i = text.IndexOf((byte)' ') + 1;
        long value = 0;
        for (; i > 0 && i < text.Length && text[i] is >= (byte)'0' and <= (byte)'9'; i++) value = value * 10 + (text[i] - '0');
        return value;
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
