using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model;

/// <summary>
/// Per-dimension standardisation of the unit input embeddings with the training corpus' statistics, fitted during
/// warm-up and frozen after (state: <c>mean</c>, <c>std</c>, <c>count</c>, saved with the weights).
/// Why: a frozen encoder's embeddings share a large common direction (every CLIP-like encoder is anisotropic); the
/// reconstruction loss is then mostly that constant, which any model predicts at once, and what tells segments apart
/// is a small residual the loss hardly sees. Measured on the learning bench (docs/LEARNING.md): without it the MSE
/// of predicting the corpus mean was 0.31 and the trained model's 0.28, and training lowered probe scores below the
/// untrained model's. Unfitted (count 0) it is the identity.
/// </summary>
public sealed class InputStandardiser : nn.Module
{
    private readonly Parameter mean;
    private readonly Parameter std;
    private readonly Parameter count;

    public InputStandardiser(int dim) : base(nameof(InputStandardiser))
    {
        mean = nn.Parameter(zeros(dim), requires_grad: false);
        std = nn.Parameter(ones(dim), requires_grad: false);
        count = nn.Parameter(zeros(1), requires_grad: false);
        RegisterComponents();
    }

    /// <summary>Rows (tokens) the statistics were fitted on; 0 = identity.</summary>
    public long Count => (long)count.item<float>();

    /// <summary>(unit - mean) / std for every row; zero rows (padding) stay zero.</summary>
    public Tensor forward(Tensor unit)
    {
        var nonzero = unit.abs().sum(-1, keepdim: true) > 0;
        return where(nonzero, (unit - mean) / std, zeros_like(unit));
    }

    /// <summary>The inverse of <see cref="forward"/>: z * std + mean.</summary>
    public Tensor Restore(Tensor standardised) => standardised * std + mean;

    /// <summary>Merges the statistics of <paramref name="rows"/> [R, d] (unit embeddings, no padding) into the fitted
    /// ones (Chan et al.'s pairwise update, in double precision). Each dimension's sd is floored at 1e-2 of the typical
    /// one, so a near-constant dimension is centred, never amplified into noise.</summary>
    public void Observe(Tensor rows)
    {
        if (rows.shape[0] == 0) return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = rows.detach().to(ScalarType.Float64);
        var n = (double)rows.shape[0];
        var batchMean = x.mean([0L]);
        var batchM2 = (x - batchMean).pow(2).sum([0L]);
        var n0 = (double)Count;
        var mean0 = mean.detach().to(ScalarType.Float64);
        var m20 = std.detach().to(ScalarType.Float64).pow(2) * n0;   // the floor's effect on M2 is negligible
        var total = n0 + n;
        var delta = batchMean - mean0;
        var merged = mean0 + delta * (n / total);
        var m2 = m20 + batchM2 + delta.pow(2) * (n0 * n / total);
        var sd = (m2 / total).sqrt();
        var floor = sd.pow(2).mean().sqrt() * 1e-2 + 1e-12;
        mean.copy_(merged.to(mean.dtype));
        std.copy_(sd.clamp_min(floor.item<double>()).to(std.dtype));
        count.fill_(total);
    }
}
