using static TorchSharp.torch;

namespace LvMae.Model;

/// <summary>Fixed 1-D sin-cos positions as MAE's get_1d_sincos_pos_embed: for position p and
/// i &lt; D/2, [sin(p w_i) | cos(p w_i)] with w_i = 10000^(-i/(D/2)). Row 0 (the [CLS] slot) is zeros,
/// segment j sits at row j + 1.</summary>
public static class PositionalEncoding
{
    public static float[] SinCos(int positions, int dim, bool clsRow = true)
    {
        if (dim % 2 != 0) throw new ArgumentException("sin-cos positions need an even width", nameof(dim));
        var half = dim / 2;
        var offset = clsRow ? 1 : 0;
        var table = new float[(positions + offset) * dim];
        for (var p = 0; p < positions; p++)
            for (var i = 0; i < half; i++)
            {
                // float64 as numpy computes it, then rounded once to float32
                var angle = p * (1.0 / Math.Pow(10000.0, i / (double)half));
                table[(p + offset) * dim + i] = (float)Math.Sin(angle);
                table[(p + offset) * dim + half + i] = (float)Math.Cos(angle);
            }
        return table;
    }

    /// <summary>[1, positions (+1), dim] tensor of <see cref="SinCos"/>.</summary>
    public static Tensor Table(int positions, int dim, bool clsRow = true) =>
        tensor(SinCos(positions, dim, clsRow), new long[] { 1, positions + (clsRow ? 1 : 0), dim });
}
