using LvMae.Formats;
using LvMae.Model.Data;
using LvMae.Model.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model.Adaptive;

public sealed record ScorerOptions
{
    public int Hidden { get; init; } = 64;
    /// <summary>Fraction of each sample's valid tokens the selection keeps (LVMAE: 15%).</summary>
    public double Budget { get; init; } = 0.15;
    /// <summary>Perturbed top-k: noise samples M and scale sigma.</summary>
    public int Samples { get; init; } = 100;
    public double Sigma { get; init; } = 0.1;
    public double Lr { get; init; } = 1e-3;
    public long Seed { get; init; }
}

/// <summary>
/// The scorer's context predictor: reconstructs every token from a gated subset, input = [x * g, g]
/// (g = 1 for tokens it may see, 0 for hidden ones, given as a feature too), sin-cos positions, one
/// transformer block with PAD keys masked, linear back to d. Small on purpose: it only has to say
/// which tokens are hard to infer from their context. Full attention: O(N^2) like the encoder.
/// </summary>
public sealed class SelectionReconstructor : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly Linear embed;
    private readonly TransformerBlock block;
    private readonly LayerNorm norm;
    private readonly Linear pred;
    private readonly int hidden;

    public SelectionReconstructor(int embeddingDim, int hidden = 64, int heads = 4, long seed = 0) : base(nameof(SelectionReconstructor))
    {
        this.hidden = hidden;
        embed = nn.Linear(embeddingDim + 1, hidden);
        block = new TransformerBlock(hidden, heads);
        norm = nn.LayerNorm(hidden, 1e-6);
        pred = nn.Linear(hidden, embeddingDim);
        RegisterComponents();
        SeededInit.Linears(this, seed);
    }

    /// <param name="x">[B, N, d] normalised; <paramref name="selection"/> [B, N] in [0, 1]; <paramref name="valid"/> [B, N] bool.</param>
    public override Tensor forward(Tensor x, Tensor selection, Tensor valid)
    {
        using var scope = NewDisposeScope();
        var y = selection.unsqueeze(-1);
        var positions = PositionalEncoding.Table((int)x.shape[1], hidden, clsRow: false).to(x.device);
        var h = embed.forward(cat([x * y, y], -1)) + positions;
        h = block.forward(h, valid.unsqueeze(1).unsqueeze(1));
        return pred.forward(norm.forward(h)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Trains the <see cref="TokenScorer"/> to rank first the masked tokens that are HARD to reconstruct,
/// which is what the decoder budget should be spent on. Each step: (1) a small context predictor
/// (<see cref="SelectionReconstructor"/>) reconstructs a random half of the tokens from the other
/// half, giving a per-token error e (MSE, like the MAE's); (2) the scorer picks, among those masked
/// tokens, ceil(budget x length) by perturbed top-k, and maximises the expected error of its
/// selection, sum_i y_i e_i (e detached): adversarial to the predictor, the LVMAE scorer's role of
/// choosing the informative tokens. The gradient is the perturbed top-k Jacobian applied to e, so
/// raising a hard token's score is rewarded and raising its competitors' is penalised.
/// Why this objective and not the seed's tokenizer objective verbatim: src/Model/README.md, "The scorer's objective".
/// Used as a first stage (call <see cref="Step"/> on batches) or stepped alongside the MAE ("joint":
/// same batches, separate parameters and optimiser).
/// </summary>
public sealed class AdaptiveScorerTrainer : IDisposable
{
    private readonly Adam optimizer;
    private readonly Generator generator;

    public ScorerOptions Options { get; }
    public TokenScorer Scorer { get; }
    public SelectionReconstructor Reconstructor { get; }
    public Device Device { get; }

    public AdaptiveScorerTrainer(int embeddingDim, ScorerOptions options, Device? device = null)
    {
        Options = options;
        Device = device ?? CPU;
        Scorer = new TokenScorer(embeddingDim, options.Hidden, options.Seed);
        Reconstructor = new SelectionReconstructor(embeddingDim, options.Hidden, 4, options.Seed + 1);
        Scorer.to(Device);
        Reconstructor.to(Device);
        optimizer = optim.Adam(Scorer.parameters().Concat(Reconstructor.parameters()), options.Lr);
        generator = new Generator((ulong)options.Seed + 7, CPU);
    }

    /// <summary>[B, N] bool validity of a padded batch.</summary>
    public static Tensor ValidMask(int[] lengths, int tokens, Device device) =>
        arange(tokens, device: device).unsqueeze(0) < tensor(lengths.Select(l => (long)l).ToArray(), device: device).unsqueeze(1);

    /// <summary>One Adam step of scorer + reconstructor; returns the reconstruction loss.</summary>
    public double Step(EmbeddingBatch batch)
    {
        using var scope = NewDisposeScope();
        Scorer.train();
        Reconstructor.train();
        var x = LvMaeModel.Normalise(batch.ToTensor(Device));
        var valid = ValidMask(batch.Lengths, batch.Tokens, Device);

        optimizer.zero_grad();
        // (1) Context predictor on a random half: per-token error of the masked tokens.
        var masked = (rand(new long[] { batch.BatchSize, batch.Tokens }, generator: generator).to(Device) < 0.5).logical_and(valid);
        var gate = valid.logical_and(masked.logical_not()).to(x.dtype);
        var error = (Reconstructor.forward(x, gate, valid) - x).square().mean([-1L]);
        var maskedF = masked.to(x.dtype);
        var loss = (error * maskedF).sum() / maskedF.sum().clamp_min(1);

        // (2) Scorer: maximise the expected error of the budget it selects among the masked tokens.
        // Noise comes from the CPU generator (reproducible on any device).
        var counts = masked.sum([1L]).cpu().data<long>().ToArray();
        var k = tensor(batch.Lengths.Select((l, i) => Math.Min(DecoderSelection.BudgetTokens(l, Options.Budget), counts[i])).ToArray());
        var scores = Scorer.forward(x, valid);
        var selection = PerturbedTopK.Apply(scores.cpu(), masked.cpu(), k, Options.Samples, Options.Sigma, generator).to(Device);
        var scorerLoss = -(selection * error.detach()).sum() / Math.Max(1, k.sum().item<long>());
        (loss + scorerLoss).backward();
        optimizer.step();
        return loss.item<float>();
    }

    /// <summary>Scores [B * N] of a padded batch (inference: hard top-k is applied by the caller).</summary>
    public float[] Score(EmbeddingBatch batch)
    {
        using var scope = NewDisposeScope();
        Scorer.eval();
        return Scorer.Score(LvMaeModel.Normalise(batch.ToTensor(Device)), ValidMask(batch.Lengths, batch.Tokens, Device));
    }

    // Checkpoint sections: both networks' weights, the Adam moments and the noise generator.
    internal Dictionary<string, SafeTensor> Weights() =>
        Prefixed("scorer.", ModelWeights.ToSafeTensors(Scorer)).Concat(Prefixed("reconstructor.", ModelWeights.ToSafeTensors(Reconstructor)))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    internal void LoadWeights(IReadOnlyDictionary<string, SafeTensor> tensors)
    {
        ModelWeights.Load(Scorer, Unprefixed("scorer.", tensors));
        ModelWeights.Load(Reconstructor, Unprefixed("reconstructor.", tensors));
    }

    internal void SaveOptimizer(BinaryWriter writer) => optimizer.save_state_dict(writer);
    internal void LoadOptimizer(BinaryReader reader) => optimizer.load_state_dict(reader);
    internal Generator Generator => generator;

    private static IEnumerable<KeyValuePair<string, SafeTensor>> Prefixed(string prefix, Dictionary<string, SafeTensor> tensors) =>
        tensors.Select(p => KeyValuePair.Create(prefix + p.Key, p.Value));

    private static Dictionary<string, SafeTensor> Unprefixed(string prefix, IReadOnlyDictionary<string, SafeTensor> tensors) =>
        tensors.Where(p => p.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(p => p.Key[prefix.Length..], p => p.Value, StringComparer.Ordinal);

    public void Dispose()
    {
        optimizer.Dispose();
        generator.Dispose();
        Scorer.Dispose();
        Reconstructor.Dispose();
    }
}
