using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model;

/// <summary>
/// A learned attention bias per head by the clipped distance between two segments (T5 / Swin style), shared by every
/// block of a stack (encoder, decoder) and added to the attention scores. With sin-cos positions alone, "attend to the
/// segment two back" is a pattern queries and keys must carve out of absolute codes, and in 1000 steps the model never
/// did: its loss stayed at "predict the video's mean" (docs/LEARNING.md). A bias by distance states it directly.
/// Zero-initialised: an untrained model attends exactly as one without it. [CLS] rows and columns get their own bucket.
/// </summary>
public sealed class RelativePositionBias : nn.Module
{
    private readonly Parameter bias;   // [heads, 2 range + 2]: distances -range..range, then [CLS]
    private readonly int range;
    /// <summary>The bias is this times its parameter: Adam moves a parameter by about the lr per step, and a bias must move by
    /// several units (a sharp preference for one distance) within a short schedule; scaling the parameter raises its
    /// effective lr without a separate optimiser group.</summary>
    public const double Gain = 10.0;

    public RelativePositionBias(int heads, int range) : base(nameof(RelativePositionBias))
    {
        if (range < 1) throw new ArgumentException("the relative position range must be at least 1", nameof(range));
        this.range = range;
        bias = nn.Parameter(zeros(heads, 2 * range + 2));
        RegisterComponents();
    }

    /// <summary>Attention mask [B, H, S, S] for tokens at <paramref name="positions"/> [B, S] (segment index, -1 =
    /// [CLS]): the bias for each query-key pair, -inf where <paramref name="keyMask"/> [B, 1, 1, S] says the key is absent.</summary>
    public Tensor Mask(Tensor positions, Tensor keyMask)
    {
        var (b, s) = (positions.shape[0], positions.shape[1]);
        var distance = (positions.unsqueeze(1) - positions.unsqueeze(2)).clamp(-range, range) + range;   // [B, Sq, Sk]
        var isCls = positions.lt(0);
        var bucket = where(isCls.unsqueeze(1) | isCls.unsqueeze(2), 2 * range + 1, distance);
        var scores = (bias * Gain).index_select(1, bucket.flatten()).view(-1, b, s, s).permute(1, 0, 2, 3);       // [B, H, S, S]
        return scores.masked_fill(keyMask.logical_not(), double.NegativeInfinity);
    }
}
