namespace LvMae.Grains;

/// <summary>Per-silo processing limits and retry policy (configuration section LvMae:Processing).</summary>
public sealed class ProcessingOptions
{
    public const string Section = "LvMae:Processing";

    /// <summary>Concurrent ffmpeg/encoder jobs per silo (default: half the cores, at least 1).</summary>
    public int MaxConcurrentJobs { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);
    /// <summary>Attempts per video for transient errors (storage, tool failures) before it is marked Failed.</summary>
    public int MaxAttempts { get; set; } = 4;
    /// <summary>First retry back-off; doubles each attempt up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>How often each silo looks for unfinished videos whose work was lost with a silo (and resumes them).</summary>
    public TimeSpan ResumeSweepInterval { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Local scratch folder for downloaded sources (default: the system temp folder).</summary>
    public string? WorkDirectory { get; set; }
    /// <summary>Segment length in seconds (the method's 5 s).</summary>
    public double SegmentSeconds { get; set; } = 5.0;

    public IEnumerable<string> Problems()
    {
        if (MaxConcurrentJobs is < 1 or > 256) yield return $"LvMae:Processing:MaxConcurrentJobs must be 1..256 (is {MaxConcurrentJobs})";
        if (MaxAttempts is < 1 or > 100) yield return $"LvMae:Processing:MaxAttempts must be 1..100 (is {MaxAttempts})";
        if (RetryBaseDelay < TimeSpan.Zero || MaxRetryDelay < RetryBaseDelay) yield return "LvMae:Processing:RetryBaseDelay must be >= 0 and <= MaxRetryDelay";
        if (ResumeSweepInterval < TimeSpan.FromMilliseconds(100)) yield return "LvMae:Processing:ResumeSweepInterval must be at least 100 ms";
        if (SegmentSeconds is <= 0 or > 600) yield return $"LvMae:Processing:SegmentSeconds must be in (0, 600] (is {SegmentSeconds})";
    }
}

/// <summary>Grain storage provider name used by every LvMae grain.</summary>
public static class LvMaeStorage
{
    public const string GrainStorageName = "lvmae";
}
