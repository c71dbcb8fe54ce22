using System.Text.Json;
using System.Text.Json.Serialization;
using LvMae.Model.Adaptive;

namespace LvMae.Model.Training;

/// <summary>Pre-training settings: the paper's Table 5 (AdamW, wd 0.05, betas 0.9 / 0.95, cosine decay after warm-up,
/// random masking at 40%), except the peak learning rate: <see cref="DefaultPeakLr"/> absolute instead of the paper's
/// rule 1.5e-4 x batch / 256 (9.4e-6 at batch 16), which was made for 150 epochs of a large corpus and leaves a model
/// trained for a few thousand steps at chance (src/Model/README.md, "Defaults"; set <see cref="AbsoluteLr"/> to null for the rule).</summary>
public sealed record TrainerOptions
{
    /// <summary>Peak learning rate unless told otherwise (MAE-style AdamW at batch 16 for 10^3-10^4 steps).</summary>
    public const double DefaultPeakLr = 1e-3;
    /// <summary>Warm-up as a fraction of the steps unless told otherwise.</summary>
    public const double DefaultWarmupFraction = 0.1;

    public MaeConfig Model { get; init; } = new();
    /// <summary>See <see cref="Masking.MaskingStrategies.Create"/>.</summary>
    public string Masking { get; init; } = "random";
    /// <summary>Null = the strategy's default (0.4 random, 0.5 semantic/uniform).</summary>
    public double? MaskRatio { get; init; }
    /// <summary>Decoder budget (random or scorer-chosen) and FSQ targets; the default is plain LV-MAE.</summary>
    public AdaptiveOptions Adaptive { get; init; } = new();
    /// <summary>The paper's base lr, scaled by BatchSize / 256 when <see cref="AbsoluteLr"/> is null.</summary>
    public double BaseLr { get; init; } = 1.5e-4;
    /// <summary>The peak lr as is; null = the paper's rule BaseLr x BatchSize / 256 (what checkpoints written before this
    /// default existed record, so they resume on their own schedule).</summary>
    public double? AbsoluteLr { get; init; } = DefaultPeakLr;
    /// <summary>Effective batch size for the lr scaling rule (the pipeline's batch size).</summary>
    public int BatchSize { get; init; } = 16;
    public double WeightDecay { get; init; } = 0.05;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public long WarmupSteps { get; init; } = 40;
    public long TotalSteps { get; init; } = 150;
    public double MinLr { get; init; }
    /// <summary>Max global gradient L2 norm; null = no clipping.</summary>
    public double? ClipGradNorm { get; init; }
    public long Seed { get; init; } = 0;
    /// <summary>libtorch intra-op threads (process-wide!); null = leave libtorch's default. Small
    /// presets on a busy machine run fastest with 1.</summary>
    public int? TorchThreads { get; init; }

    [JsonIgnore] public double PeakLr => AbsoluteLr ?? LrSchedule.ScaledLr(BaseLr, BatchSize);
    public LrSchedule Schedule() => new(PeakLr, WarmupSteps, TotalSteps, MinLr);

    /// <summary>The default warm-up of a run of <paramref name="totalSteps"/> steps.</summary>
    public static long DefaultWarmup(long totalSteps) => Math.Max(1, (long)Math.Round(totalSteps * DefaultWarmupFraction));

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static TrainerOptions FromJson(string json) => JsonSerializer.Deserialize<TrainerOptions>(json, Json) ?? throw new InvalidDataException("empty TrainerOptions JSON");
}

/// <summary>What one optimisation step did.</summary>
/// <param name="Step">Steps completed after this one (1 after the first).</param>
/// <param name="Tokens">Valid tokens in this batch; <paramref name="TotalTokens"/> since step 0.</param>
public sealed record StepResult(long Step, double Loss, double LearningRate, long Tokens, long MaskedTokens, long TotalTokens, double? GradNorm, TimeSpan Elapsed);
