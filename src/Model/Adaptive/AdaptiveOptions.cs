namespace LvMae.Model.Adaptive;

/// <summary>LVMAE's additions to LV-MAE pre-training (TrainerOptions.Adaptive); the defaults are plain LV-MAE.</summary>
public sealed record AdaptiveOptions
{
    /// <summary>Which encoder-masked tokens the decoder reconstructs: all (LV-MAE), a random budget, or the scorer's budget.</summary>
    public DecoderMasking DecoderMasking { get; init; } = DecoderMasking.All;
    /// <summary>Decoder targets per sample = min(ceil(budget x valid length), masked) when not All (LVMAE: 15%).</summary>
    public double DecoderBudget { get; init; } = 0.15;
    /// <summary>Reconstruct FSQ code indices (cross-entropy) instead of the embeddings (MSE); needs a trained FsqAutoencoder.</summary>
    public bool FsqTargets { get; init; }
    /// <summary>Step the scorer's own objective on every MAE batch (else it must come pre-trained).</summary>
    public bool JointScorer { get; init; } = true;
    public ScorerOptions Scorer { get; init; } = new();
}
