using System.Globalization;

namespace LvMae.Bench;

/// <summary>Another process's memory and CPU as Linux reports them in /proc (a silo process under measurement).</summary>
public static class ProcessStats
{
    /// <summary>A kB field of /proc/PID/status: VmRSS (resident now), VmHWM (peak resident since start or the last <see cref="TryResetPeak"/>).</summary>
    public static long StatusKb(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return 0;
    }

    public static double RssMiB(int pid) => StatusKb(pid, "VmRSS") / 1024.0;

    public static double PeakRssMiB(int pid) => StatusKb(pid, "VmHWM") / 1024.0;

    /// <summary>Sets VmHWM back to the current RSS (writing 5 to clear_refs, Linux 4.0+), so the next peak is this interval's own; false where not allowed.</summary>
    public static bool TryResetPeak(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>utime + stime + cutime + cstime of a process (its reaped children included), in seconds.</summary>
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After "pid (comm) ": state is field 3, so utime (14), stime (15), cutime (16), cstime (17) sit at 11..14 here.
        var ticks = fields.Skip(11).Take(4).Sum(f => long.Parse(f, CultureInfo.InvariantCulture));
        return ticks / 100.0; // USER_HZ
    }
}
