using TorchSharp;
using static TorchSharp.torch;

namespace LvMae.Model.Quantization;

/// <summary>
/// Finite scalar quantisation (Mentzer et al. 2023). Each of D = levels.Length channels is bounded to
/// (L - 1) / 2 around zero, rounded with a straight-through estimator and rescaled to [-1, 1]; the
/// implicit codebook is the product of the levels ([8, 5, 5, 5] = 1000 codes). No parameters.
/// </summary>
public sealed class Fsq
{
    private const double Eps = 1e-3;
    private readonly long[] basis;    // mixed-radix place values: [1, L0, L0 L1, ...]

    public int[] Levels { get; }
    public int Dim => Levels.Length;
    public long CodebookSize { get; }

    public Fsq(params int[] levels)
    {
        if (levels.Length == 0 || levels.Any(l => l < 2)) throw new ArgumentException("FSQ needs at least one channel, each with >= 2 levels", nameof(levels));
        Levels = levels;
        basis = new long[levels.Length];
        long size = 1;
        for (var i = 0; i < levels.Length; i++) { basis[i] = size; size *= levels[i]; }
        CodebookSize = size;
    }

    private Tensor Row(Func<int, double> f, Tensor like) =>
        tensor(Levels.Select(l => (float)f(l)).ToArray(), device: like.device).to(like.dtype);

    /// <summary>half_l = (L - 1)(1 + eps) / 2: the output range per channel.</summary>
    private static double HalfL(int l) => (l - 1) * (1 + Eps) / 2;
    private static double Offset(int l) => l % 2 == 0 ? 0.5 : 0.0;
    /// <summary>L // 2: rounded values lie in [-hw, hw] (odd L) or [-hw, hw - 1] (even L).</summary>
    private static double HalfWidth(int l) => l / 2;

    /// <summary>tanh(z + shift) half_l - offset, shift = atanh(offset / half_l): even L gets L
    /// integer values, asymmetric around 0, and z = 0 still maps to 0.</summary>
    public Tensor Bound(Tensor z) =>
        (z + Row(l => Math.Atanh(Offset(l) / HalfL(l)), z)).tanh() * Row(HalfL, z) - Row(Offset, z);

    /// <summary>round(x) forward, identity backward.</summary>
    public static Tensor RoundSte(Tensor x) => x + (x.round() - x).detach();

    /// <summary>Quantised codes in [-1, 1], [..., D]; gradients pass straight through the rounding.</summary>
    public Tensor Quantize(Tensor z) => RoundSte(Bound(z)) / Row(HalfWidth, z);

    /// <summary>Codes [..., D] -> code indices [...] (int64).</summary>
    public Tensor CodesToIndices(Tensor codes)
    {
        var hw = Row(HalfWidth, codes);
        var digits = (codes * hw + hw).round().to(ScalarType.Int64);
        return (digits * tensor(basis, device: codes.device)).sum([-1L]);
    }

    /// <summary>Code indices [...] -> codes [..., D].</summary>
    public Tensor IndicesToCodes(Tensor indices, ScalarType dtype = ScalarType.Float32)
    {
        var digits = indices.unsqueeze(-1).floor_divide(tensor(basis, device: indices.device))
            .remainder(tensor(Levels.Select(l => (long)l).ToArray(), device: indices.device));
        var hw = tensor(Levels.Select(l => (float)HalfWidth(l)).ToArray(), device: indices.device).to(dtype);
        return (digits.to(dtype) - hw) / hw;
    }
}
