namespace LvMae.Model.Masking;

/// <summary>
/// Block masking: contiguous spans of <see cref="MeanSpan"/> tokens on average (length uniform in
/// [1, 2 * MeanSpan - 1]) at random starts until MaskedCount(length, ratio) tokens are masked.
/// Why: a video's segments repeat within a scene, so a randomly masked token is copied from its
/// visible neighbours and the model never needs the video's long-range structure; a masked span as
/// long as a scene can only be filled in from what comes before and after it (the order of events).
/// </summary>
public sealed class SpanMasking(double ratio = 0.5, int meanSpan = 8) : IMaskingStrategy
{
    public double Ratio { get; } = ratio is >= 0 and < 1 ? ratio : throw new ArgumentOutOfRangeException(nameof(ratio));
    public int MeanSpan { get; } = meanSpan >= 1 ? meanSpan : throw new ArgumentOutOfRangeException(nameof(meanSpan), "a span has at least one token");
    public string Name => "span";

    public bool[] Sample(ReadOnlySpan<float> embeddings, int length, int dim, Random rng)
    {
        var mask = new bool[length];
        var target = MaskingStrategies.MaskedCount(length, Ratio);
        var masked = 0;
        while (masked < target)
        {
            var span = Math.Min(1 + rng.Next(2 * MeanSpan - 1), target - masked);
            var start = rng.Next(length);
            for (var j = start; j < Math.Min(length, start + span); j++)
                if (!mask[j]) { mask[j] = true; masked++; }
        }
        return mask;
    }
}
