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
/// Null fields take the model library's defaults; the defaults learn on small corpora (src/Grains/Training/README.md, "Defaults").
/// </summary>
[GenerateSerializer, Alias("lvmae.TrainingRunConfig")]
public sealed record TrainingRunConfig
{
    /// <summary>Steps of a run that gives neither steps nor epochs (at least; <see cref="DefaultEpochs"/> when that is more).</summary>
    public const long DefaultSteps = 2000;
    public const long DefaultEpochs = 10;
    /// <summary><see cref="Window"/> value for whole videos (up to <see cref="MaxTokens"/>, at a random start when longer).</summary>
    public const string WholeWindow = "whole";
    /// <summary>The masking strategies a run can name (MaskingStrategies.Names in src/Model; a test keeps the two equal).</summary>
    public static IReadOnlyList<string> MaskingNames { get; } = ["random", "span", "semantic", "semantic-keep", "uniform"];
    /// <summary>The peak learning rate of a run that gives none (TrainerOptions.DefaultPeakLr in src/Model; a test keeps the two equal).</summary>
    public const double DefaultPeakLr = 1e-3;
    /// <summary>Random masking's ratio for a run that sets none: 0.6, chosen on the val splits of the learning bench
    /// (docs/LEARNING.md, session 10). The model library's RandomMasking keeps the paper's 0.4, so a checkpoint that
    /// recorded no ratio resumes with the ratio it trained with.</summary>
    public const double DefaultRandomMaskRatio = 0.6;
    /// <summary>Warm-up as a fraction of the steps when a run gives none (TrainerOptions.DefaultWarmupFraction in src/Model; a test keeps the two equal).</summary>
    public const double DefaultWarmupFraction = 0.1;

    /// <summary>Model preset: tiny | small | base | paper.</summary>
    [Id(0)] public string Preset { get; init; } = "small";
    /// <summary>random | semantic | semantic-keep | uniform.</summary>
    [Id(1)] public string Masking { get; init; } = "random";
    [Id(2)] public double? MaskRatio { get; init; }
    /// <summary>Optimisation steps; when null, <see cref="Epochs"/> passes over the corpus (estimated at start); both null =
    /// max(<see cref="DefaultSteps"/>, <see cref="DefaultEpochs"/> epochs).</summary>
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
    /// <summary>Longest sequence the model sees (segments of 5 s): the positional table's size.</summary>
    [Id(10)] public int MaxTokens { get; init; } = 256;
    /// <summary>Absolute peak learning rate; null = the library's default (<c>TrainerOptions.DefaultPeakLr</c>).</summary>
    [Id(11)] public double? Lr { get; init; }
    /// <summary>Warm-up steps; null = the library's default fraction of the steps (<c>TrainerOptions.DefaultWarmupFraction</c>).</summary>
    [Id(12)] public long? WarmupSteps { get; init; }
    /// <summary>"auto" (CUDA when present), "cpu" or "cuda[:N]".</summary>
    [Id(13)] public string Device { get; init; } = "auto";
    /// <summary>Probe epochs instead of the paper's 30 (linear) / 20 (attentive); for quick checks.</summary>
    [Id(14)] public int? ProbeEpochs { get; init; }
    /// <summary>Names for positional labels (labels without "column=value"): label i is column LabelColumns[i].</summary>
    [Id(15)] public IReadOnlyList<string> LabelColumns { get; init; } = [];
    /// <summary>libtorch intra-op threads (process-wide); null = leave as is.</summary>
    [Id(16)] public int? TorchThreads { get; init; }
    /// <summary>Which masked tokens the decoder reconstructs: all (LV-MAE) | random | adaptive (LVMAE's token scorer, trained jointly).</summary>
    [Id(19)] public string DecoderMasking { get; init; } = "all";
    /// <summary>Fraction of each video's valid tokens the decoder reconstructs when DecoderMasking is not "all" (LVMAE: 0.15).</summary>
    [Id(20)] public double DecoderBudget { get; init; } = 0.15;
    /// <summary>What the decoder reconstructs: "embedding" (MSE, LV-MAE) | "fsq" (cross-entropy on the code indices of an
    /// FSQ autoencoder the run fits on its corpus first, LVMAE).</summary>
    [Id(21)] public string Targets { get; init; } = "embedding";
    /// <summary>FSQ levels per channel when Targets is "fsq" (codebook size = their product).</summary>
    [Id(22)] public IReadOnlyList<int> FsqLevels { get; init; } = [8, 5, 5, 5];
    /// <summary>What each training sample is: "whole" (the whole video, up to MaxTokens at a random start when longer) or
    /// "MIN..MAX" seconds (the paper's dynamic duration sampling, e.g. "10..1280").</summary>
    [Id(23)] public string Window { get; init; } = WholeWindow;
    /// <summary>Seeds every probe is trained with; scores are the mean (and sd) over them.</summary>
    [Id(24)] public int ProbeSeeds { get; init; } = 3;
    /// <summary>Pre-train on held-out (val/test) videos too. Off by default: the held-out split is never seen in training.</summary>
    [Id(25)] public bool TrainOnHeldOut { get; init; }
    /// <summary>Label columns probed by regression (numbers); other numeric columns with more than 10 values are too.</summary>
    [Id(26)] public IReadOnlyList<string> RegressionColumns { get; init; } = [];
    /// <summary>Architecture settings over the preset, "Name=value,..." (MaeConfig property names, e.g.
    /// "DecoderDim=128,RelativePositionRange=null"); null = the preset as it is.</summary>
    [Id(27)] public string? ModelSettings { get; init; }
}

/// <summary>A run's effective learning-rate schedule (linear warm-up to the peak, half-cosine to MinLr at TotalSteps).</summary>
[GenerateSerializer, Alias("lvmae.TrainingSchedule")]
public sealed record TrainingSchedule
{
    [Id(0)] public double PeakLr { get; init; }
    [Id(1)] public long WarmupSteps { get; init; }
    [Id(2)] public long TotalSteps { get; init; }
    [Id(3)] public double MinLr { get; init; }
    [Id(4)] public int BatchSize { get; init; }

    public override string ToString() =>
        FormattableString.Invariant($"peak lr {PeakLr:G3}, warm-up {WarmupSteps} steps, cosine to {MinLr:G3} at step {TotalSteps}, batch {BatchSize}");
}

/// <summary>
/// One probe score on one label column: features (lv-mae | raw | majority) x probe (linear | attentive | attentive+pos |
/// regression | baseline), trained on the train split, scored on the test split (and on val when there is one); the mean
/// (and sd) over <see cref="Seeds"/> probe seeds. "majority / baseline" is the most frequent train class (regression: the
/// train mean): what a useless probe scores.
/// </summary>
[GenerateSerializer, Alias("lvmae.ProbeScore")]
public sealed record ProbeScore
{
    public const string LvMae = "lv-mae";
    /// <summary>The same model untrained (its step-0 weights, from the run's seed): what training must improve on.</summary>
    public const string Untrained = "lv-mae@0";
    public const string Raw = "raw";
    public const string Majority = "majority";

    [Id(0)] public long Step { get; init; }
    [Id(1)] public required string Column { get; init; }
    [Id(2)] public required string Features { get; init; }
    [Id(3)] public required string Probe { get; init; }
    /// <summary>Held-out (test) top-1 accuracy (classification), mean over seeds.</summary>
    [Id(4)] public double? Top1 { get; init; }
    /// <summary>Held-out (test) mean squared error (regression, in the label's units squared), mean over seeds.</summary>
    [Id(5)] public double? Mse { get; init; }
    [Id(6)] public int Train { get; init; }
    [Id(7)] public int Test { get; init; }
    [Id(8)] public int Classes { get; init; }
    /// <summary>Sample standard deviation of <see cref="Top1"/> / <see cref="Mse"/> over the seeds (0 with one seed).</summary>
    [Id(9)] public double? Top1Sd { get; init; }
    [Id(10)] public double? MseSd { get; init; }
    [Id(11)] public int Seeds { get; init; } = 1;
    /// <summary>Top-1 on the val split (model selection), when the labels have one.</summary>
    [Id(12)] public double? ValTop1 { get; init; }
    [Id(13)] public int Val { get; init; }
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
    /// <summary>The effective learning-rate schedule (defaults resolved).</summary>
    [Id(23)] public TrainingSchedule? Schedule { get; init; }
    /// <summary>The corpus the run saw at its start, per split: what it pre-trains on and what it holds out.</summary>
    [Id(24)] public IReadOnlyList<SplitCount> Data { get; init; } = [];
    /// <summary>While a probe runs: which fit it is on, of how many (null otherwise).</summary>
    [Id(25)] public ProbeActivity? ProbeActivity { get; init; }
}

/// <summary>One fit of a running probe: <see cref="Done"/> of <see cref="Total"/> fits of the checkpoint of
/// <see cref="Step"/> are finished; the current one is <see cref="Probe"/> on <see cref="Features"/> for <see cref="Column"/>.</summary>
[GenerateSerializer, Immutable, Alias("lvmae.ProbeActivity")]
public sealed record ProbeActivity
{
    [Id(0)] public long Step { get; init; }
    [Id(1)] public required string Column { get; init; }
    [Id(2)] public required string Features { get; init; }
    [Id(3)] public required string Probe { get; init; }
    [Id(4)] public int Done { get; init; }
    [Id(5)] public int Total { get; init; }

    public override string ToString() => $"probe {Done}/{Total} of step {Step}: {Column}, {Features} {Probe}";
}

/// <summary>Videos and tokens (segments) of one split of a run's corpus, and whether pre-training uses them.</summary>
[GenerateSerializer, Alias("lvmae.SplitCount")]
public sealed record SplitCount
{
    /// <summary>train, pretrain, val or test.</summary>
    [Id(0)] public required string Split { get; init; }
    [Id(1)] public long Videos { get; init; }
    [Id(2)] public long Tokens { get; init; }
    [Id(3)] public bool PreTrained { get; init; }

    /// <summary>"1,200 videos (152,344 tokens) pretrain: pre-trained on" per split, one line for the lot.</summary>
    public static string Describe(IReadOnlyList<SplitCount> data) => data.Count == 0 ? "no embedded videos" :
        $"pre-trains on {data.Where(d => d.PreTrained).Sum(d => d.Videos):N0} videos ({data.Where(d => d.PreTrained).Sum(d => d.Tokens):N0} tokens), " +
        $"holds out {data.Where(d => !d.PreTrained).Sum(d => d.Videos):N0}: " +
        string.Join(", ", data.Select(d => $"{d.Split} {d.Videos:N0} videos / {d.Tokens:N0} tokens{(d.PreTrained ? "" : " held out")}"));
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
    /// <summary>Starts the run. Idempotent for the same config (a running or finished run is left alone and reported, a
    /// stopped or failed one resumes); a run of this name with another config is refused (ArgumentException naming the
    /// differences): resume it (<see cref="Resume"/>) or pick another name.</summary>
    [Alias("Start")] Task<TrainingProgress> Start(TrainingRunConfig config);
    [Alias("GetProgress")] Task<TrainingProgress> GetProgress();
    /// <summary>Resumes a stopped or failed run (a user's decision) from its latest good checkpoint; a training run is
    /// made sure to train in this activation; a finished run is left alone.</summary>
    [Alias("Resume")] Task<TrainingProgress> Resume();
    /// <summary>Stops training after the current step and checkpoints (state Stopped; Resume continues it).</summary>
    [Alias("Stop")] Task<TrainingProgress> Stop();
    /// <summary>Starts a probe of the latest checkpoint in the background: one label column (null = all), one kind (null = linear + attentive).</summary>
    [Alias("Probe")] Task<TrainingProgress> Probe(string? column, string? kind);
    /// <summary>Starts an export of the latest checkpoint in the background (see <see cref="TrainingProgress.Export"/>).</summary>
    [Alias("Export")] Task<TrainingProgress> Export();
    /// <summary>Stops training if it runs, deletes every blob of the run (config, checkpoints, metrics, plots, export),
    /// its state and its registry entry. The name is free again afterwards. It waits (up to 2 min each) for a start still
    /// loading and for a running probe or export to stop, longer than the default 30 s response timeout on a busy silo.</summary>
    [Alias("Delete"), ResponseTimeout("00:06:00")] Task Delete();
}

/// <summary>
/// The paper's interpretability check on one video with a run's latest checkpoint (`lvmae retrieve`): the video's
/// segment embeddings are masked and reconstructed by the model, and each masked segment's original and reconstruction
/// are matched against caption embeddings (<see cref="CaptionEmbeddings"/> [C, <see cref="CaptionDim"/>] row-major, one
/// caption per row, in the segment encoder's space). Runs on a silo, on the CPU; the caller holds no model.
/// </summary>
[GenerateSerializer, Immutable, Alias("lvmae.RetrievalRequest")]
public sealed record RetrievalRequest
{
    [Id(0)] public required string VideoId { get; init; }
    [Id(1)] public required float[] CaptionEmbeddings { get; init; }
    [Id(2)] public int CaptionDim { get; init; }
    [Id(3)] public required IReadOnlyList<string> Captions { get; init; }
    /// <summary>Captions per segment.</summary>
    [Id(4)] public int Top { get; init; } = 3;
    /// <summary>Mask seed.</summary>
    [Id(5)] public int Seed { get; init; }
}

/// <summary>One caption matched to a segment (cosine similarity).</summary>
[GenerateSerializer, Immutable, Alias("lvmae.RetrievedCaption")]
public sealed record RetrievedCaption([property: Id(0)] string Caption, [property: Id(1)] double Score);

/// <summary>One masked segment: the captions nearest its original embedding and its reconstruction, and their cosine.</summary>
[GenerateSerializer, Immutable, Alias("lvmae.RetrievedSegment")]
public sealed record RetrievedSegment(
    [property: Id(0)] int Position,
    [property: Id(1)] IReadOnlyList<RetrievedCaption> Original,
    [property: Id(2)] IReadOnlyList<RetrievedCaption> Reconstructed,
    [property: Id(3)] double ReconstructionCosine);

/// <summary>What a retrieval found, or why it could not run (a checkpoint that does not verify, a video without embeddings).</summary>
[GenerateSerializer, Immutable, Alias("lvmae.RetrievalResult")]
public sealed record RetrievalResult
{
    [Id(0)] public IReadOnlyList<RetrievedSegment> Segments { get; init; } = [];
    [Id(1)] public string? Error { get; init; }
}

/// <summary>
/// Retrieval with a run's model (key = run name), a stateless worker beside the run's own grain so that a retrieval never
/// waits on training: it reads the run's latest checkpoint and the video's embeddings from blob and computes on the CPU.
/// </summary>
[Alias("lvmae.IRunRetrievalGrain")]
public interface IRunRetrievalGrain : IGrainWithStringKey
{
    /// <summary>Throws ArgumentException for captions of another width than the run's encoder.</summary>
    [Alias("Retrieve"), ResponseTimeout("00:10:00")] Task<RetrievalResult> Retrieve(RetrievalRequest request);
}
