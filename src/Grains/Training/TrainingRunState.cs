using LvMae.Contracts;
using LvMae.Pipeline;

namespace LvMae.Grains.Training;

/// <summary>A training run's persisted state (small: checkpoints, metrics and exports live in their own blobs). Stored as
/// plain JSON (<see cref="GrainStateJson"/>); <see cref="RunRecorder"/> never changes one in place: it returns a copy.</summary>
public sealed class TrainingRunState
{
    public TrainingRunConfig? Config { get; set; }
    public TrainingState State { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public long TotalSteps { get; set; }
    public string? LatestCheckpoint { get; set; }
    public long LatestCheckpointStep { get; set; }
    public long Epoch { get; set; }
    public string? Message { get; set; }
    public int Resumes { get; set; }
    /// <summary>The latest score per (column, features, probe); the history is in metrics.jsonl.</summary>
    public List<ProbeScore> Probes { get; set; } = [];
    public ExportInfo? Export { get; set; }
    /// <summary>FSQ-target runs: the fitted codebook's usage.</summary>
    public string? Codebook { get; set; }
    /// <summary>The corpus per split at the run's start (<see cref="RunSettings.Census"/>).</summary>
    public List<SplitCount> Data { get; set; } = [];

    /// <summary>A copy to change (its lists are copies too; the config, scores and export are shared, never changed in place).</summary>
    public TrainingRunState Copy()
    {
        var copy = (TrainingRunState)MemberwiseClone();
        copy.Probes = [.. Probes];
        copy.Data = [.. Data];
        return copy;
    }
}
