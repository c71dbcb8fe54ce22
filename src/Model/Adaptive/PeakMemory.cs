namespace LvMae.Model.Adaptive;

/// <summary>Process peak resident memory on Linux (VmHWM), resettable so each measured run gets its
/// own peak (writing 5 to /proc/self/clear_refs resets it). Returns 0 where /proc is unavailable.
/// CPU only: CUDA memory lives outside RSS.</summary>
public static class PeakMemory
{
    /// <summary>Resets the peak to the current RSS; returns the current RSS.</summary>
    public static long ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return Read("VmRSS:");
    }

    public static long PeakRssBytes() => Read("VmHWM:");

    private static long Read(string key)
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line[key.Length..].Trim().Split(' ')[0]) * 1024;
        }
        catch (IOException) { return 0; }
        catch (UnauthorizedAccessException) { return 0; }
    }
}
