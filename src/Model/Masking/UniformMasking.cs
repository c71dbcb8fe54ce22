namespace LvMae.Model.Masking;

/// <summary>Every k-th token masked, from a random phase in [0, k): positions j with
/// (j + phase) mod k == k - 1. k &gt;= 2, so a sample of two or more tokens keeps one visible; a
/// one-token sample is left unmasked.</summary>
public sealed class UniformMasking(int every = 2) : IMaskingStrategy
{
    public int Every { get; } = every >= 2 ? every : throw new ArgumentOutOfRangeException(nameof(every), "k must be at least 2");
    public string Name => "uniform";

    public bool[] Sample(ReadOnlySpan<float> embeddings, int length, int dim, Random rng)
    {
        var phase = rng.Next(Every);
        var mask = new bool[length];
        for (var j = 0; j < length; j++) mask[j] = (j + phase) % Every == Every - 1;
        if (length > 0 && mask.All(m => m)) mask[0] = false;
        return mask;
    }
}
