namespace LvMae.Grains;

/// <summary>Per-silo processing limits, retry policy and work dispatch (configuration section LvMae:Processing).</summary>
public sealed class ProcessingOptions
{
    public const string Section = "LvMae:Processing";

    /// <summary>Concurrent media jobs (download + ffmpeg + encoder) per silo (default: half the cores, at least 1).</summary>
    public int MaxConcurrentJobs { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);
    /// <summary>Attempts per video for transient media errors before it is marked Failed (storage outages do not count: they are waited out).</summary>
    public int MaxAttempts { get; set; } = 4;
    /// <summary>First retry back-off; doubles each attempt up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>How often an index shard re-asks its in-flight videos to process (so work lost with a silo restarts elsewhere) and fills free places.</summary>
    public TimeSpan DispatchInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>The Orleans reminder that brings back an index shard (and its unfinished videos) after its silo died (Orleans' minimum is 1 minute).</summary>
    public TimeSpan DispatchReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>Videos in flight per silo job slot (the rest wait in their index shard's queue at a few bytes each).</summary>
    public int DispatchOvercommit { get; set; } = 2;
    /// <summary>Videos in flight per index shard at least.</summary>
    public int MinDispatchPerShard { get; set; } = 2;
    /// <summary>Local scratch folder for downloaded sources (default: the system temp folder).</summary>
    public string? WorkDirectory { get; set; }
    /// <summary>Segment length in seconds (the method's 5 s).</summary>
    public double SegmentSeconds { get; set; } = 5.0;
    /// <summary>Frames per inference call of the frame encoders (null: the encoder's default, 8 for resnet18; 1 = one frame per call, as before batching).</summary>
    public int? InferenceBatchFrames { get; set; }
    /// <summary>The only folder `model:&lt;file.onnx&gt;` encoders are read from (relative names; nothing outside it). Unset: no model files.</summary>
    public string? ModelDirectory { get; set; }

    public IEnumerable<string> Problems()
    {
        if (MaxConcurrentJobs is < 1 or > 256) yield return $"LvMae:Processing:MaxConcurrentJobs must be 1..256 (is {MaxConcurrentJobs})";
        if (MaxAttempts is < 1 or > 100) yield return $"LvMae:Processing:MaxAttempts must be 1..100 (is {MaxAttempts})";
        if (RetryBaseDelay < TimeSpan.Zero || MaxRetryDelay < RetryBaseDelay) yield return "LvMae:Processing:RetryBaseDelay must be >= 0 and <= MaxRetryDelay";
        if (DispatchInterval < TimeSpan.FromMilliseconds(100)) yield return "LvMae:Processing:DispatchInterval must be at least 100 ms";
        if (DispatchReminderPeriod < TimeSpan.FromMinutes(1)) yield return "LvMae:Processing:DispatchReminderPeriod must be at least 1 minute (Orleans' reminder minimum)";
        if (DispatchOvercommit is < 1 or > 64) yield return $"LvMae:Processing:DispatchOvercommit must be 1..64 (is {DispatchOvercommit})";
        if (MinDispatchPerShard is < 1 or > 1024) yield return $"LvMae:Processing:MinDispatchPerShard must be 1..1024 (is {MinDispatchPerShard})";
        if (InferenceBatchFrames is < 1 or > 256) yield return $"LvMae:Processing:InferenceBatchFrames must be 1..256 (is {InferenceBatchFrames})";
        if (SegmentSeconds is <= 0 or > 600) yield return $"LvMae:Processing:SegmentSeconds must be in (0, 600] (is {SegmentSeconds})";
    }
}

/// <summary>The corpus index (configuration section LvMae:Index). Every silo of a cluster must use the same shard count.</summary>
public sealed class IndexOptions
{
    public const string Section = "LvMae:Index";

    /// <summary>Index shards (fixed when the corpus is created: stored in index/layout.json and checked at every silo start).</summary>
    public int Shards { get; set; } = Contracts.IndexLayout.DefaultShards;
    /// <summary>A shard's log is folded into a new snapshot once it is larger than the snapshot and than this.</summary>
    public long CompactBytes { get; set; } = 256 << 10;
    /// <summary>How often the cluster audits the index against the video states and repairs it (zero: never by itself).</summary>
    public TimeSpan AuditInterval { get; set; } = TimeSpan.FromHours(6);
    /// <summary>While storage is out, how often a shard tries it again; once it answers, the shard re-checks the videos it
    /// touched during the outage against their persisted states (so within this interval of storage returning).</summary>
    public TimeSpan OutageProbeInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// Videos a shard changed this long before it noticed an outage are re-checked too (a crashed storage can come back
    /// without the writes it acknowledged last: Azurite saves its metadata every 5 s, slower under load). While a change is
    /// this recent the shard also checks storage every <see cref="OutageProbeInterval"/> (zero: only its own writes notice).
    /// </summary>
    public TimeSpan OutageLookBack { get; set; } = TimeSpan.FromMinutes(2);

    public IEnumerable<string> Problems()
    {
        if (Shards is < 1 or > 4096) yield return $"LvMae:Index:Shards must be 1..4096 (is {Shards})";
        if (CompactBytes < 1024) yield return $"LvMae:Index:CompactBytes must be at least 1024 (is {CompactBytes})";
        if (AuditInterval != TimeSpan.Zero && AuditInterval < TimeSpan.FromMinutes(1)) yield return "LvMae:Index:AuditInterval must be zero (off) or at least 1 minute";
        if (OutageProbeInterval <= TimeSpan.Zero || OutageProbeInterval > TimeSpan.FromMinutes(1)) yield return $"LvMae:Index:OutageProbeInterval must be more than zero and at most 1 minute (is {OutageProbeInterval})";
        if (OutageLookBack < TimeSpan.Zero) yield return $"LvMae:Index:OutageLookBack must not be negative (is {OutageLookBack})";
    }
}

/// <summary>Grain storage provider name used by every LvMae grain.</summary>
public static class LvMaeStorage
{
    public const string GrainStorageName = "lvmae";
}
