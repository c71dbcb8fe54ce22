using System.Diagnostics;
using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Masking;
using LvMae.Model.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model.Training;

/// <summary>
/// Owns one LV-MAE model and its AdamW optimiser, plus LVMAE's optional additions (options.Adaptive):
/// a decoder budget chosen at random or by a jointly trained token scorer, and FSQ code targets.
/// Not thread-safe: construct and call it from one dedicated thread (TorchSharp dispose scopes are
/// per thread), never across an await.
/// Randomness never touches torch's global generator: weights come from a private generator seeded
/// with Seed; each step's masks (and random decoder subsets) from a System.Random seeded by
/// (Seed, step), so a resumed run draws exactly what the uninterrupted one did; <see cref="Generator"/>
/// and the scorer's generator (both saved in checkpoints) are for stochastic extensions.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly AdamW optimizer;
    private readonly IMaskingStrategy masking;
    private readonly LrSchedule schedule;
    private readonly List<Parameter> trained;

    public TrainerOptions Options { get; }
    public LvMaeModel Model { get; }
    public Device Device { get; }
    public IMaskingStrategy Masking => masking;
    /// <summary>Optimisation steps completed (the scheduler position).</summary>
    public long StepCount { get; private set; }
    public long TokensSeen { get; private set; }
    /// <summary>The trainer's own torch generator (state travels in checkpoints).</summary>
    public Generator Generator { get; }
    /// <summary>The token scorer (adaptive decoder masking only).</summary>
    public AdaptiveScorerTrainer? Scorer { get; }
    /// <summary>The frozen FSQ autoencoder and the trained code head (FSQ targets only).</summary>
    public FsqAutoencoder? Fsq { get; }
    public FsqTargetObjective? FsqObjective { get; }
    /// <summary>Set when the trainer built the scorer / FSQ autoencoder itself (or a checkpoint did) and must dispose it.</summary>
    internal bool OwnsScorer { get; set; }
    internal bool OwnsFsq { get; set; }
    /// <summary>The decoder targets of the last step (what the decoder reconstructed), per sample.</summary>
    public IReadOnlyList<int[]> LastDecoderTargets { get; private set; } = [];
    /// <summary>Time the last step spent training the scorer (joint mode; included in the step's Elapsed).</summary>
    public TimeSpan LastScorerTime { get; private set; }

    /// <param name="scorer">A (pre-)trained scorer for adaptive decoder masking; null = a fresh one, trained
    /// jointly (options.Adaptive.JointScorer must then be true). The caller keeps ownership.</param>
    /// <param name="fsq">The trained, frozen FSQ autoencoder when options.Adaptive.FsqTargets. The caller keeps ownership.</param>
    public Trainer(TrainerOptions options, string? device = "auto", AdaptiveScorerTrainer? scorer = null, FsqAutoencoder? fsq = null)
    {
        Options = options;
        var adaptive = options.Adaptive;
        if (adaptive.DecoderMasking != DecoderMasking.All && adaptive.DecoderBudget is <= 0 or > 1)
            throw new ArgumentException($"decoder budget {adaptive.DecoderBudget} is not a fraction in (0, 1]", nameof(options));
        Device = TorchDevice.Resolve(device);
        if (options.TorchThreads is { } threads) set_num_threads(threads);
        Model = new LvMaeModel(options.Model, options.Seed);
        Generator = new Generator((ulong)options.Seed + 1, CPU);
        Model.to(Device);
        if (adaptive.FsqTargets)
        {
            Fsq = fsq ?? throw new ArgumentException("FSQ targets need a trained FsqAutoencoder", nameof(fsq));
            FsqObjective = new FsqTargetObjective(fsq, options.Model.EmbeddingDim, options.Seed + 3);
            FsqObjective.to(Device);
            fsq.to(Device);
            Model.Objective = FsqObjective;
        }
        if (adaptive.DecoderMasking == DecoderMasking.Adaptive)
        {
            if (scorer is null && !adaptive.JointScorer) throw new ArgumentException("adaptive decoder masking without joint training needs a pre-trained scorer", nameof(scorer));
            OwnsScorer = scorer is null;
            Scorer = scorer ?? new AdaptiveScorerTrainer(options.Model.EmbeddingDim, ScorerOptionsFor(options), Device);
        }
        masking = MaskingStrategies.Create(options.Masking, options.MaskRatio);
        schedule = options.Schedule();

        // MAE's add_weight_decay: no decay on biases and 1-D parameters (LayerNorms); an FSQ code head joins the groups.
        var named = Model.named_parameters().Where(p => p.parameter.requires_grad)
            .Concat(FsqObjective?.named_parameters() ?? []).ToList();
        trained = named.Select(x => x.parameter).ToList();
        bool NoDecay((string name, Parameter p) x) => x.p.dim() <= 1 || x.name.EndsWith(".bias", StringComparison.Ordinal);
        var groups = new[]
        {
            new AdamW.ParamGroup(named.Where(x => !NoDecay(x)).Select(x => x.parameter), schedule.At(0), options.Beta1, options.Beta2, 1e-8, options.WeightDecay, false, false),
            new AdamW.ParamGroup(named.Where(NoDecay).Select(x => x.parameter), schedule.At(0), options.Beta1, options.Beta2, 1e-8, 0.0, false, false),
        };
        optimizer = optim.AdamW(groups, schedule.At(0), options.Beta1, options.Beta2, 1e-8, options.WeightDecay);
    }

    /// <summary>The scorer a run builds for itself: the run's budget, seeded from the run's seed.</summary>
    public static ScorerOptions ScorerOptionsFor(TrainerOptions options) =>
        options.Adaptive.Scorer with { Budget = options.Adaptive.DecoderBudget, Seed = options.Seed + 5 };

    /// <summary>The mask rng for a given step: a pure function of (seed, step), stable across
    /// processes and runtimes (SplitMix64 finaliser; HashCode.Combine is randomised per process).</summary>
    public static Random StepRandom(long seed, long step)
    {
        var z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step + 0x4C564D41UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return new Random((int)(z & 0x7FFFFFFF));
    }

    /// <summary>The decoder targets for a batch and its encoder mask: null = every masked token
    /// (LV-MAE), else the budget chosen at random or by the scorer (hard top-k at selection time).</summary>
    public int[][]? SelectDecoderTargets(EmbeddingBatch batch, bool[] mask, long step)
    {
        var adaptive = Options.Adaptive;
        if (adaptive.DecoderMasking == DecoderMasking.All) return null;
        return DecoderSelection.Select(adaptive.DecoderMasking, mask, batch.Lengths, batch.Tokens, adaptive.DecoderBudget,
            StepRandom(Options.Seed ^ 0x0DEC0DE, step), () => Scorer!.Score(batch));
    }

    /// <summary>One AdamW step on <paramref name="batch"/>: (scorer step), sample masks, choose the decoder's
    /// targets, forward, backward, clip, update; no finalizer runs meanwhile (see <see cref="TorchGc"/>).</summary>
    /// <param name="mask">Optional explicit mask [B * N] (true = masked) instead of the strategy's.</param>
    /// <param name="decoderTargets">Optional per-sample subset of masked positions the decoder reconstructs
    /// (overrides options.Adaptive's selection).</param>
    public StepResult Step(EmbeddingBatch batch, bool[]? mask = null, IReadOnlyList<int[]>? decoderTargets = null) =>
        TorchGc.Guard(() => StepUnguarded(batch, mask, decoderTargets));

    private StepResult StepUnguarded(EmbeddingBatch batch, bool[]? mask, IReadOnlyList<int[]>? decoderTargets)
    {
        var watch = Stopwatch.StartNew();
        if (Options.Adaptive.JointScorer && Scorer is not null) Scorer.Step(batch);
        LastScorerTime = watch.Elapsed;

        using var scope = NewDisposeScope();
        Model.train();
        mask ??= masking.SampleBatch(batch, StepRandom(Options.Seed, StepCount));
        decoderTargets ??= SelectDecoderTargets(batch, mask, StepCount);
        var layout = TokenLayout.Build(batch.Tokens, batch.Lengths, mask, decoderTargets);
        LastDecoderTargets = decoderTargets ?? DecoderSelection.All(mask, batch.Lengths, batch.Tokens);
        var lr = schedule.At(StepCount);
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

        optimizer.zero_grad();
        var x = batch.ToTensor(Device);
        // The input standardisation is fitted on the warm-up's batches (at least the first) and frozen after.
        if (StepCount < Math.Max(1, Options.WarmupSteps)) Model.ObserveInputs(x, batch.Lengths);
        var output = Model.Forward(x, layout, FsqObjective?.Targets(x));
        output.Loss.backward();
        double? gradNorm = Options.ClipGradNorm is { } maxNorm ? nn.utils.clip_grad_norm_(trained, maxNorm) : null;
        optimizer.step();

        StepCount++;
        TokensSeen += batch.TotalTokens;
        var masked = layout.TargetValid.LongCount(v => v);
        return new StepResult(StepCount, output.Loss.item<float>(), lr, batch.TotalTokens, masked, TokensSeen, gradNorm, watch.Elapsed);
    }

    /// <summary>Loss on a batch without updating (validation); masks from <paramref name="rng"/>.</summary>
    public double Evaluate(EmbeddingBatch batch, Random rng)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Model.eval();
        var mask = masking.SampleBatch(batch, rng);
        var layout = TokenLayout.Build(batch.Tokens, batch.Lengths, mask, SelectDecoderTargets(batch, mask, StepCount));
        var x = batch.ToTensor(Device);
        return Model.Forward(x, layout, FsqObjective?.Targets(x)).Loss.item<float>();
    }

    // ---- checkpoints ----------------------------------------------------------------------------

    /// <summary>Everything needed to resume, as one artefact: see <see cref="Checkpoint"/>.</summary>
    public byte[] SaveCheckpoint() => Checkpoint.Save(this);

    /// <summary>Rebuilds a trainer from <see cref="SaveCheckpoint"/> bytes, at the saved step.</summary>
    public static Trainer Resume(byte[] checkpoint, string? device = "auto") => Checkpoint.Load(checkpoint, device);

    /// <summary>The current weights alone, as safetensors with the reference names (+ config metadata).</summary>
    public byte[] ExportWeights() => ModelWeights.ToBytes(Model);

    internal void SaveOptimizer(BinaryWriter writer) => optimizer.save_state_dict(writer);
    internal void LoadOptimizer(BinaryReader reader) => optimizer.load_state_dict(reader);
    internal void Restore(long step, long tokens) { StepCount = step; TokensSeen = tokens; }

    public void Dispose()
    {
        optimizer.Dispose();
        Generator.Dispose();
        if (OwnsScorer) Scorer?.Dispose();
        FsqObjective?.Dispose();
        if (OwnsFsq) Fsq?.Dispose();
        Model.Dispose();
    }
}
