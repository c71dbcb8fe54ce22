using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model.Quantization;

/// <summary>How many of the codebook's entries a set of indices uses.</summary>
/// <param name="Perplexity">exp(entropy) of the empirical code distribution: the effective number of codes.</param>
public sealed record CodebookUsage(long CodebookSize, int Used, double Perplexity, long Tokens)
{
    public double Fraction => (double)Used / CodebookSize;

    public static CodebookUsage Of(IEnumerable<long> indices, long codebookSize)
    {
        var counts = new Dictionary<long, long>();
        long n = 0;
        foreach (var i in indices) { counts[i] = counts.GetValueOrDefault(i) + 1; n++; }
        var entropy = counts.Values.Sum(c => { var p = (double)c / n; return -p * Math.Log(p); });
        return new CodebookUsage(codebookSize, counts.Count, Math.Exp(entropy), n);
    }
}

public sealed record FsqOptions
{
    public int[] Levels { get; init; } = [8, 5, 5, 5];
    public int Hidden { get; init; } = 128;
    public int Steps { get; init; } = 300;
    public int BatchTokens { get; init; } = 256;
    public double Lr { get; init; } = 1e-3;
    public long Seed { get; init; }
}

/// <summary>
/// A per-segment FSQ autoencoder: normalised embedding d -> MLP -> D channels -> FSQ -> MLP -> d.
/// Trained first (MSE to the normalised embedding), then frozen: its code indices are the MAE's
/// classification targets (LVMAE's FSQ-MagViT tokens, at the embedding level).
/// </summary>
public sealed class FsqAutoencoder : nn.Module
{
    private readonly Sequential encoder;
    private readonly Sequential decoder;

    public Fsq Quantizer { get; }
    public int EmbeddingDim { get; }
    public int Hidden { get; }

    public FsqAutoencoder(int embeddingDim, int[] levels, int hidden = 128, long seed = 0) : base(nameof(FsqAutoencoder))
    {
        EmbeddingDim = embeddingDim;
        Hidden = hidden;
        Quantizer = new Fsq(levels);
        encoder = nn.Sequential(nn.Linear(embeddingDim, hidden), nn.GELU(), nn.Linear(hidden, levels.Length));
        decoder = nn.Sequential(nn.Linear(levels.Length, hidden), nn.GELU(), nn.Linear(hidden, embeddingDim));
        RegisterComponents();
        SeededInit.Linears(this, seed);
    }

    /// <summary>Quantised codes [..., D] of normalised embeddings [..., d].</summary>
    public Tensor Encode(Tensor normalised) => Quantizer.Quantize(encoder.forward(normalised));

    public Tensor Decode(Tensor codes) => decoder.forward(codes);

    /// <summary>Code indices [...] of normalised embeddings [..., d] (no gradient).</summary>
    public Tensor Indices(Tensor normalised)
    {
        using var _ = no_grad();
        return Quantizer.CodesToIndices(Encode(normalised));
    }

    /// <summary>Trains on every segment of <paramref name="videos"/> ([n_i, dim] raw rows), seeded.</summary>
    public static (FsqAutoencoder Model, double FinalLoss, CodebookUsage Usage) Fit(IReadOnlyList<float[]> videos, int dim, FsqOptions options, Device? device = null)
    {
        device ??= CPU;
        var rows = videos.Sum(v => v.Length / dim);
        var all = new float[rows * dim];
        var offset = 0;
        foreach (var v in videos) { v.CopyTo(all, offset); offset += v.Length; }
        using var data = LvMaeModel.Normalise(tensor(all, new long[] { rows, dim }, device: device));

        var model = new FsqAutoencoder(dim, options.Levels, options.Hidden, options.Seed);
        model.to(device);
        using var optimizer = optim.Adam(model.parameters(), options.Lr);
        var rng = new Random((int)options.Seed);
        double loss = double.NaN;
        for (var step = 0; step < options.Steps; step++)
        {
            using var scope = NewDisposeScope();
            var pick = tensor(Enumerable.Range(0, Math.Min(options.BatchTokens, rows)).Select(_ => (long)rng.Next(rows)).ToArray(), device: device);
            var x = data.index_select(0, pick);
            optimizer.zero_grad();
            var l = (model.Decode(model.Encode(x)) - x).square().mean();
            l.backward();
            optimizer.step();
            loss = l.item<float>();
        }
        model.eval();
        using var idx = model.Indices(data);
        return (model, loss, CodebookUsage.Of(idx.cpu().data<long>().ToArray(), model.Quantizer.CodebookSize));
    }
}

/// <summary>Seeded PyTorch-default init for the small helper modules (nn.init ignores generators in
/// TorchSharp 0.107, so draw from a private generator instead of the global one).</summary>
internal static class SeededInit
{
    public static void Linears(nn.Module module, long seed)
    {
        using var generator = new Generator((ulong)seed + 0x5EED, CPU);
        using var _ = no_grad();
        foreach (var (_, m) in module.named_modules())
        {
            if (m is Linear linear)
            {
                var bound = 1 / Math.Sqrt(linear.weight.shape[1]);   // kaiming_uniform(a=sqrt 5) = U(+-1/sqrt(fan_in))
                linear.weight.uniform_(-bound, bound, generator);
                linear.bias?.uniform_(-bound, bound, generator);
            }
            else if (m is Conv1d conv)
            {
                var bound = 1 / Math.Sqrt(conv.weight.shape[1] * conv.weight.shape[2]);
                conv.weight.uniform_(-bound, bound, generator);
                conv.bias?.uniform_(-bound, bound, generator);
            }
        }
    }
}
