using System.Text.Json;
using System.Text.Json.Serialization;
using LvMae.Model.Adaptive;

namespace LvMae.Model.Training;

/// <summary>Pre-training settings; defaults are the paper's Table 5 (AdamW, base lr 1.5e-4 x batch / 256,
/// wd 0.05, betas 0.9 / 0.95, cosine decay after warm-up, random masking at 40%).</summary>
public sealed record TrainerOptions
{
    public MaeConfig Model { get; init; } = new();
    /// <summary>See <see cref="Masking.MaskingStrategies.Create"/>.</summary>
    public string Masking { get; init; } = "random";
    /// <summary>Null = the strategy's default (0.4 random, 0.5 semantic/uniform).</summary>
    public double? MaskRatio { get; init; }
    /// <summary>Decoder budget (random or scorer-chosen) and FSQ targets; the default is plain LV-MAE.</summary>
    public AdaptiveOptions Adaptive { get; init; } = new();
    public double BaseLr { get; init; } = 1.5e-4;
    /// <summary>When set, used as is instead of BaseLr x BatchSize / 256.</summary>
    public double? AbsoluteLr { get; init; }
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

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static TrainerOptions FromJson(string json) => JsonSerializer.Deserialize<TrainerOptions>(json, Json) ?? throw new InvalidDataException("empty TrainerOptions JSON");
}

/// <summary>What one optimisation step did.</summary>
/// <param name="Step">Steps completed after this one (1 after the first).</param>
/// <param name="Tokens">Valid tokens in this batch; <paramref name="TotalTokens"/> since step 0.</param>
public sealed record StepResult(long Step, double Loss, double LearningRate, long Tokens, long MaskedTokens, long TotalTokens, double? GradNorm, TimeSpan Elapsed);
