using static TorchSharp.torch;

namespace LvMae.Model;

/// <summary>
/// Which positions of each padded sample the encoder sees and which the decoder reconstructs, as
/// packed index tensors. Built on the CPU from per-sample boolean masks (true = masked).
/// Encoder sequence per sample: [CLS] + its visible positions (ascending), padded to V.
/// Decoder sequence: [CLS] + the same visible tokens + one mask token per target position, padded
/// to T. Targets default to every masked position (LV-MAE); a later adaptive decoder-masking
/// scorer passes a subset instead (<see cref="Build(int, int[], bool[], IReadOnlyList{int[]}?)"/>).
/// Sets are order-free for attention, so this reproduces the reference's full-length decoder exactly.
/// </summary>
public sealed class TokenLayout
{
    public int Batch { get; }
    public int Tokens { get; }
    public int Visible { get; }   // V: max visible tokens in the batch
    public int Targets { get; }   // T: max decoder targets in the batch
    public long[] VisiblePositions { get; }  // [B, V], padding slots = 0
    public bool[] VisibleValid { get; }      // [B, V]
    public long[] TargetPositions { get; }   // [B, T], padding slots = 0
    public bool[] TargetValid { get; }       // [B, T]
    public int[] Lengths { get; }
    public bool[] Mask { get; }              // [B, N], true = masked

    private TokenLayout(int batch, int tokens, int[] lengths, bool[] mask, List<int>[] visible, List<int>[] targets)
    {
        Batch = batch; Tokens = tokens; Lengths = lengths; Mask = mask;
        Visible = Math.Max(1, visible.Max(v => v.Count));
        Targets = Math.Max(1, targets.Max(t => t.Count));
        (VisiblePositions, VisibleValid) = Pack(visible, Visible);
        (TargetPositions, TargetValid) = Pack(targets, Targets);
    }

    /// <summary>Layout for a batch of <paramref name="lengths"/>.Length samples padded to <paramref name="tokens"/>.</summary>
    /// <param name="mask">[B * N], true = masked; ignored beyond each length.</param>
    /// <param name="decoderTargets">Optional per-sample subset of masked positions to reconstruct.</param>
    public static TokenLayout Build(int tokens, int[] lengths, bool[] mask, IReadOnlyList<int[]>? decoderTargets = null)
    {
        var b = lengths.Length;
        if (mask.Length != b * tokens) throw new ArgumentException($"mask has {mask.Length} entries, expected {b} x {tokens}");
        var visible = new List<int>[b];
        var targets = new List<int>[b];
        for (var i = 0; i < b; i++)
        {
            if (lengths[i] < 1 || lengths[i] > tokens) throw new ArgumentException($"sample {i} has length {lengths[i]} outside [1, {tokens}]");
            visible[i] = new List<int>();
            targets[i] = new List<int>();
            for (var j = 0; j < lengths[i]; j++) (mask[i * tokens + j] ? targets[i] : visible[i]).Add(j);
            if (decoderTargets is not null)
            {
                var chosen = decoderTargets[i];
                if (chosen.Any(p => p < 0 || p >= lengths[i] || !mask[i * tokens + p]))
                    throw new ArgumentException($"decoder targets of sample {i} must be masked positions inside its length");
                targets[i] = chosen.Distinct().Order().ToList();
            }
        }
        return new TokenLayout(b, tokens, lengths, mask, visible, targets);
    }

    /// <summary>No masking: every valid token visible (feature extraction, probing, export).</summary>
    public static TokenLayout Unmasked(int tokens, int[] lengths) => Build(tokens, lengths, new bool[lengths.Length * tokens]);

    /// <summary>Decoder targets of one sample (the masked tokens it is scored on).</summary>
    public int TargetCount(int sample) => TargetValid.AsSpan(sample * Targets, Targets).Count(true);

    public Tensor VisibleIndex(Device device) => tensor(VisiblePositions, new long[] { Batch, Visible }, device: device);
    public Tensor TargetIndex(Device device) => tensor(TargetPositions, new long[] { Batch, Targets }, device: device);
    public Tensor VisibleMask(Device device) => tensor(VisibleValid, new long[] { Batch, Visible }, device: device);
    public Tensor TargetMask(Device device) => tensor(TargetValid, new long[] { Batch, Targets }, device: device);

    private static (long[] Positions, bool[] Valid) Pack(List<int>[] lists, int width)
    {
        var positions = new long[lists.Length * width];
        var valid = new bool[lists.Length * width];
        for (var i = 0; i < lists.Length; i++)
            for (var k = 0; k < lists[i].Count; k++)
            {
                positions[i * width + k] = lists[i][k];
                valid[i * width + k] = true;
            }
        return (positions, valid);
    }
}
