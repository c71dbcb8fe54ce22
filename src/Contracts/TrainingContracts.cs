namespace LvMae.Contracts;

/// <summary>Where a training run is.</summary>
[GenerateSerializer, Alias("lvmae.TrainingState")]
public enum TrainingState
{
    /// <summary>No run with this name was ever started.</summary>
    None = 0,
    Training = 1,
    Done = 2,
    Failed = 3,
    Stopped = 4,
}

/// <summary>
/// Everything that defines a run (stored with it as runs/&lt;run&gt;/config.json and in the grain state).
/// Null fields take the model library's defaults.
/// </summary>
[GenerateSerializer, Alias("lvmae.TrainingRunConfig")]
public sealed record TrainingRunConfig
{
    /// <summary>Model preset: tiny | small | base | paper.</summary>
    [Id(0)] public string Preset { get; init; } = "small";
    /// <summary>random | semantic | semantic-keep | uniform.</summary>
    [Id(1)] public string Masking { get; init; } = "random";
    [Id(2)] public double? MaskRatio { get; init; }
    /// <summary>Optimisation steps; when null, <see cref="Epochs"/> passes over the corpus (estimated at start).</summary>
    [Id(3)] public long? Steps { get; init; }
    [Id(4)] public long? Epochs { get; init; }
    /// <summary>Only videos embedded with this encoder train the run.</summary>
    [Id(5)] public string Encoder { get; init; } = "resnet18";
    /// <summary>Probe every K steps (and at the end); 0 = only at the end; negative = never.</summary>
    [Id(6)] public long ProbeEvery { get; init; } = 500;
    /// <summary>Checkpoint every N steps (and at the end).</summary>
    [Id(7)] public long CheckpointEvery { get; init; } = 200;
    [Id(8)] public int BatchSize { get; init; } = 16;
    [Id(9)] public int Seed { get; init; }
    [Id(10)] public int MaxTokens { get; init; } = 256;
    /// <summary>Absolute peak learning rate (else the paper's 1.5e-4 x batch / 256).</summary>
    [Id(11)] public double? Lr { get; init; }
    /// <summary>Warm-up steps (else 10% of the steps).</summary>
    [Id(12)] public long? WarmupSteps { get; init; }
    /// <summary>"auto" (CUDA when present), "cpu" or "cuda[:N]".</summary>
    [Id(13)] public string Device { get; init; } = "auto";
    /// <summary>Probe epochs instead of the paper's 30 (linear) / 20 (attentive); for quick checks.</summary>
    [Id(14)] public int? ProbeEpochs { get; init; }
    /// <summary>Names for positional labels (labels without "column=value"): label i is column LabelColumns[i].</summary>
    [Id(15)] public IReadOnlyList<string> LabelColumns { get; init; } = [];
    /// <summary>libtorch intra-op threads (process-wide); null = leave as is.</summary>
    [Id(16)] public int? TorchThreads { get; init; }
    /// <summary>Duration sampling window in seconds (paper 10..1280).</summary>
    [Id(17)] public double MinWindowSeconds { get; init; } = 10;
    [Id(18)] public double MaxWindowSeconds { get; init; } = 1280;
    /// <summary>Which masked tokens the decoder reconstructs: all (LV-MAE) | random | adaptive (LVMAE's token scorer, trained jointly).</summary>
    [Id(19)] public string DecoderMasking { get; init; } = "all";
    /// <summary>Fraction of each video's valid tokens the decoder reconstructs when DecoderMasking is not "all" (LVMAE: 0.15).</summary>
    [Id(20)] public double DecoderBudget { get; init; } = 0.15;
    /// <summary>What the decoder reconstructs: "embedding" (MSE, LV-MAE) | "fsq" (cross-entropy on the code indices of an
    /// FSQ autoencoder the run fits on its corpus first, LVMAE).</summary>
    [Id(21)] public string Targets { get; init; } = "embedding";
    /// <summary>FSQ levels per channel when Targets is "fsq" (codebook size = their product).</summary>
    [Id(22)] public IReadOnlyList<int> FsqLevels { get; init; } = [8, 5, 5, 5];
}

/// <summary>One probe score: features (lv-mae | raw) x probe (linear | attentive | regression) on one label column.</summary>
[GenerateSerializer, Alias("lvmae.ProbeScore")]
public sealed record ProbeScore
{
    [Id(0)] public long Step { get; init; }
    [Id(1)] public required string Column { get; init; }
    [Id(2)] public required string Features { get; init; }
    [Id(3)] public required string Probe { get; init; }
    /// <summary>Held-out top-1 accuracy (classification).</summary>
    [Id(4)] public double? Top1 { get; init; }
    /// <summary>Held-out mean squared error (regression).</summary>
    [Id(5)] public double? Mse { get; init; }
    [Id(6)] public int Train { get; init; }
    [Id(7)] public int Test { get; init; }
    [Id(8)] public int Classes { get; init; }
}

/// <summary>A run's live progress, as <see cref="ITrainingRunGrain.GetProgress"/> reports it.</summary>
[GenerateSerializer, Alias("lvmae.TrainingProgress")]
public sealed record TrainingProgress
{
    [Id(0)] public required string Run { get; init; }
    [Id(1)] public TrainingState State { get; init; }
    [Id(2)] public long Step { get; init; }
    [Id(3)] public long TotalSteps { get; init; }
    [Id(4)] public long Epoch { get; init; }
    [Id(5)] public double? Loss { get; init; }
    [Id(6)] public double? LearningRate { get; init; }
    [Id(7)] public double? TokensPerSecond { get; init; }
    [Id(8)] public TimeSpan? Eta { get; init; }
    [Id(9)] public string? LatestCheckpoint { get; init; }
    [Id(10)] public long LatestCheckpointStep { get; init; }
    /// <summary>The silo and device the model lives on.</summary>
    [Id(11)] public string? Silo { get; init; }
    [Id(12)] public string? Device { get; init; }
    /// <summary>Videos left out of an epoch because their embeddings could not be loaded (missing, corrupt, ...).</summary>
    [Id(13)] public long SkippedVideos { get; init; }
    [Id(14)] public IReadOnlyList<string> RecentSkips { get; init; } = [];
    [Id(15)] public string? Message { get; init; }
    [Id(16)] public IReadOnlyList<ProbeScore> Probes { get; init; } = [];
    /// <summary>True while a probe or export runs in the background.</summary>
    [Id(17)] public bool Probing { get; init; }
    [Id(18)] public TrainingRunConfig? Config { get; init; }
    /// <summary>How many times this run was resumed from a checkpoint.</summary>
    [Id(19)] public int Resumes { get; init; }
    [Id(20)] public ExportInfo? Export { get; init; }
    [Id(21)] public bool Exporting { get; init; }
    /// <summary>FSQ-target runs: the fitted codebook's usage ("FSQ [8,5,5,5]: 104/1000 codes used ...").</summary>
    [Id(22)] public string? Codebook { get; init; }
}

/// <summary>What an export wrote (blob names under runs/&lt;run&gt;/export/).</summary>
[GenerateSerializer, Alias("lvmae.ExportInfo")]
public sealed record ExportInfo
{
    [Id(0)] public long Step { get; init; }
    [Id(1)] public int Videos { get; init; }
    [Id(2)] public int Width { get; init; }
    [Id(3)] public IReadOnlyList<string> Blobs { get; init; } = [];
    [Id(4)] public DateTimeOffset At { get; init; }
    [Id(5)] public string? Error { get; init; }
}

/// <summary>
/// One training run (key = run name): owns the model on its silo's device, trains on a dedicated thread fed from the
/// corpus index, checkpoints to blob, resumes after a crash, probes and exports. Every call returns at once; long work runs
/// in the grain's background.
/// </summary>
[Alias("lvmae.ITrainingRunGrain")]
public interface ITrainingRunGrain : IGrainWithStringKey
{
    /// <summary>Starts the run (idempotent: a running or finished run with this name is left alone and reported).</summary>
    [Alias("Start")] Task<TrainingProgress> Start(TrainingRunConfig config);
    [Alias("GetProgress")] Task<TrainingProgress> GetProgress();
    /// <summary>Makes sure an unfinished run is training in this activation (after a silo loss).</summary>
    [Alias("Resume")] Task<TrainingProgress> Resume();
    /// <summary>Stops training after the current step and checkpoints (state Stopped; Resume continues it).</summary>
    [Alias("Stop")] Task<TrainingProgress> Stop();
    /// <summary>Starts a probe of the latest checkpoint in the background: one label column (null = all), one kind (null = linear + attentive).</summary>
    [Alias("Probe")] Task<TrainingProgress> Probe(string? column, string? kind);
    /// <summary>Starts an export of the latest checkpoint in the background (see <see cref="TrainingProgress.Export"/>).</summary>
    [Alias("Export")] Task<TrainingProgress> Export();
}
