using System.Diagnostics;
using LvMae.Model.Data;
using LvMae.Model.Masking;
using LvMae.Model.Quantization;
using LvMae.Model.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model.Adaptive;

public sealed record AdaptiveOptions
{
    public DecoderMasking DecoderMasking { get; init; } = DecoderMasking.Adaptive;
    /// <summary>Decoder targets per sample = min(ceil(budget x valid length), masked); 1 = every masked token.</summary>
    public double DecoderBudget { get; init; } = 0.15;
    /// <summary>Reconstruct FSQ code indices (cross-entropy) instead of the embeddings (MSE).</summary>
    public bool FsqTargets { get; init; }
    /// <summary>Step the scorer's own objective on every MAE batch (else it must come pre-trained).</summary>
    public bool JointScorer { get; init; } = true;
    public ScorerOptions Scorer { get; init; } = new();
}

/// <summary>
/// LV-MAE pre-training with LVMAE's additions: the encoder masking strategy is unchanged (random,
/// semantic, ...); among the masked tokens the decoder reconstructs only a budget chosen by the
/// scorer (or at random, or all), so the decoder's sequence is [CLS] + visible + the selected mask
/// tokens and its cost falls with the budget (TokenLayout's target subset); optionally against
/// FSQ code indices. Same seeding and schedule rules as <see cref="Trainer"/>; one thread, no awaits.
/// </summary>
public sealed class AdaptiveMaeTrainer : IDisposable
{
    private readonly AdamW optimizer;
    private readonly IMaskingStrategy masking;
    private readonly LrSchedule schedule;
    private readonly bool ownsScorer;
    private readonly List<Parameter> trained;

    public TrainerOptions Options { get; }
    public AdaptiveOptions Adaptive { get; }
    public LvMaeModel Model { get; }
    public AdaptiveScorerTrainer? Scorer { get; }
    public FsqTargetObjective? FsqObjective { get; }
    public Device Device { get; }
    public long StepCount { get; private set; }
    /// <summary>The decoder targets of the last step (what the decoder saw), per sample.</summary>
    public int[][] LastDecoderTargets { get; private set; } = [];
    /// <summary>Time the last step spent training the scorer (joint mode; included in the step's Elapsed).</summary>
    public TimeSpan LastScorerTime { get; private set; }

    /// <param name="scorer">A (pre-)trained scorer to use; null with adaptive masking = a fresh one trained jointly.</param>
    /// <param name="fsq">The frozen FSQ autoencoder when <see cref="AdaptiveOptions.FsqTargets"/>.</param>
    public AdaptiveMaeTrainer(TrainerOptions options, AdaptiveOptions adaptive, AdaptiveScorerTrainer? scorer = null, FsqAutoencoder? fsq = null, string? device = "cpu")
    {
        Options = options;
        Adaptive = adaptive;
        Device = TorchDevice.Resolve(device);
        if (options.TorchThreads is { } threads) set_num_threads(threads);
        Model = new LvMaeModel(options.Model, options.Seed);
        Model.to(Device);
        if (adaptive.FsqTargets)
        {
            FsqObjective = new FsqTargetObjective(fsq ?? throw new ArgumentException("FSQ targets need a trained FsqAutoencoder", nameof(fsq)), options.Model.EmbeddingDim, options.Seed + 3);
            FsqObjective.to(Device);
            fsq.to(Device);
            Model.Objective = FsqObjective;
        }
        if (adaptive.DecoderMasking == DecoderMasking.Adaptive)
        {
            if (scorer is null && !adaptive.JointScorer) throw new ArgumentException("adaptive decoder masking without joint training needs a pre-trained scorer", nameof(scorer));
            ownsScorer = scorer is null;
            Scorer = scorer ?? new AdaptiveScorerTrainer(options.Model.EmbeddingDim, adaptive.Scorer with { Budget = adaptive.DecoderBudget, Seed = options.Seed + 5 }, Device);
        }
        masking = MaskingStrategies.Create(options.Masking, options.MaskRatio);
        schedule = options.Schedule();

        // As Trainer: no weight decay on biases and 1-D parameters; the code head joins the MAE's groups.
        var named = Model.named_parameters().Where(p => p.parameter.requires_grad)
            .Concat(FsqObjective?.named_parameters() ?? []).ToList();
        trained = named.Select(x => x.parameter).ToList();
        bool NoDecay((string name, Parameter p) x) => x.p.dim() <= 1 || x.name.EndsWith(".bias", StringComparison.Ordinal);
        optimizer = optim.AdamW(
        [
            new AdamW.ParamGroup(named.Where(x => !NoDecay(x)).Select(x => x.parameter), schedule.At(0), options.Beta1, options.Beta2, 1e-8, options.WeightDecay, false, false),
            new AdamW.ParamGroup(named.Where(NoDecay).Select(x => x.parameter), schedule.At(0), options.Beta1, options.Beta2, 1e-8, 0.0, false, false),
        ], schedule.At(0), options.Beta1, options.Beta2, 1e-8, options.WeightDecay);
    }

    /// <summary>Decoder targets for a batch and its encoder mask (scorer inference = hard top-k).</summary>
    public int[][] SelectTargets(EmbeddingBatch batch, bool[] mask, Random rng) =>
        DecoderSelection.Select(Adaptive.DecoderMasking, mask, batch.Lengths, batch.Tokens,
            Adaptive.DecoderMasking == DecoderMasking.All ? 1 : Adaptive.DecoderBudget, rng, () => Scorer!.Score(batch));

    public StepResult Step(EmbeddingBatch batch)
    {
        var watch = Stopwatch.StartNew();
        if (Adaptive.JointScorer && Scorer is not null) Scorer.Step(batch);
        LastScorerTime = watch.Elapsed;

        using var scope = NewDisposeScope();
        Model.train();
        var mask = masking.SampleBatch(batch, Trainer.StepRandom(Options.Seed, StepCount));
        LastDecoderTargets = SelectTargets(batch, mask, Trainer.StepRandom(Options.Seed ^ 0x0DEC0DE, StepCount));
        var layout = TokenLayout.Build(batch.Tokens, batch.Lengths, mask, LastDecoderTargets);
        var lr = schedule.At(StepCount);
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

        optimizer.zero_grad();
        var x = batch.ToTensor(Device);
        var output = Model.Forward(x, layout, FsqObjective?.Targets(x));
        output.Loss.backward();
        double? gradNorm = Options.ClipGradNorm is { } maxNorm
            ? nn.utils.clip_grad_norm_(trained, maxNorm) : null;
        optimizer.step();
        StepCount++;
        return new StepResult(StepCount, output.Loss.item<float>(), lr, batch.TotalTokens, layout.TargetValid.LongCount(v => v), 0, gradNorm, watch.Elapsed);
    }

    public void Dispose()
    {
        optimizer.Dispose();
        if (ownsScorer) Scorer?.Dispose();
        FsqObjective?.Dispose();
        Model.Dispose();
    }
}
