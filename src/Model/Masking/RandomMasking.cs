namespace LvMae.Model.Masking;

/// <summary>MAE's random masking: a uniformly random subset of MaskedCount(length, ratio) tokens.</summary>
public sealed class RandomMasking(double ratio = 0.4) : IMaskingStrategy
{
    public double Ratio { get; } = ratio is >= 0 and < 1 ? ratio : throw new ArgumentOutOfRangeException(nameof(ratio));
    public string Name => "random";

    public bool[] Sample(ReadOnlySpan<float> embeddings, int length, int dim, Random rng)
    {
        var order = Enumerable.Range(0, length).ToArray();
        rng.Shuffle(order);
        var mask = new bool[length];
        foreach (var position in order.AsSpan(0, MaskingStrategies.MaskedCount(length, Ratio))) mask[position] = true;
        return mask;
    }
}
