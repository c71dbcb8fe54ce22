using System.Diagnostics;
using LvMae.Model.Data;
using LvMae.Model.Masking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model.Training;

/// <summary>
/// Owns one LV-MAE model and its AdamW optimiser. Not thread-safe: construct and call it from one
/// dedicated thread (TorchSharp dispose scopes are per thread), never across an await.
/// Randomness never touches torch's global generator: weights come from a private generator seeded
/// with Seed; each step's masks from a System.Random seeded by (Seed, step), so a resumed run draws
/// exactly what the uninterrupted one did; <see cref="Generator"/> (saved in checkpoints) is for
/// stochastic extensions (dropout, perturbed top-k noise).
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly AdamW optimizer;
    private readonly IMaskingStrategy masking;
    private readonly LrSchedule schedule;

    public TrainerOptions Options { get; }
    public LvMaeModel Model { get; }
    public Device Device { get; }
    public IMaskingStrategy Masking => masking;
    /// <summary>Optimisation steps completed (the scheduler position).</summary>
    public long StepCount { get; private set; }
    public long TokensSeen { get; private set; }
    /// <summary>The trainer's own torch generator (state travels in checkpoints).</summary>
    public Generator Generator { get; }

    public Trainer(TrainerOptions options, string? device = "auto")
    {
        Options = options;
        Device = TorchDevice.Resolve(device);
        if (options.TorchThreads is { } threads) set_num_threads(threads);
        Model = new LvMaeModel(options.Model, options.Seed);
        Generator = new Generator((ulong)options.Seed + 1, CPU);
        Model.to(Device);
        masking = MaskingStrategies.Create(options.Masking, options.MaskRatio);
        schedule = options.Schedule();

        // MAE's add_weight_decay: no decay on biases and 1-D parameters (LayerNorms).
        var named = Model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        bool NoDecay((string name, Parameter p) x) => x.p.dim() <= 1 || x.name.EndsWith(".bias", StringComparison.Ordinal);
        var groups = new[]
        {
            new AdamW.ParamGroup(named.Where(x => !NoDecay(x)).Select(x => x.parameter), schedule.At(0), options.Beta1, options.Beta2, 1e-8, options.WeightDecay, false, false),
            new AdamW.ParamGroup(named.Where(NoDecay).Select(x => x.parameter), schedule.At(0), options.Beta1, options.Beta2, 1e-8, 0.0, false, false),
        };
        optimizer = optim.AdamW(groups, schedule.At(0), options.Beta1, options.Beta2, 1e-8, options.WeightDecay);
    }

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

    /// <summary>One AdamW step on <paramref name="batch"/>: sample masks, forward, backward, clip, update.</summary>
    /// <param name="mask">Optional explicit mask [B * N] (true = masked) instead of the strategy's.</param>
    /// <param name="decoderTargets">Optional per-sample subset of masked positions the decoder reconstructs.</param>
    public StepResult Step(EmbeddingBatch batch, bool[]? mask = null, IReadOnlyList<int[]>? decoderTargets = null)
    {
        var watch = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        Model.train();
        mask ??= masking.SampleBatch(batch, StepRandom(Options.Seed, StepCount));
        var layout = TokenLayout.Build(batch.Tokens, batch.Lengths, mask, decoderTargets);
        var lr = schedule.At(StepCount);
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

        optimizer.zero_grad();
        var output = Model.Forward(batch.ToTensor(Device), layout);
        output.Loss.backward();
        double? gradNorm = Options.ClipGradNorm is { } maxNorm ? nn.utils.clip_grad_norm_(Model.TrainableParameters(), maxNorm) : null;
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
        var layout = TokenLayout.Build(batch.Tokens, batch.Lengths, masking.SampleBatch(batch, rng));
        return Model.Forward(batch.ToTensor(Device), layout).Loss.item<float>();
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
        Model.Dispose();
    }
}
