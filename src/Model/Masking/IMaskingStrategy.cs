using LvMae.Model.Data;

namespace LvMae.Model.Masking;

/// <summary>
/// Chooses which tokens of one sample are masked (to be reconstructed). Contract for every
/// strategy: only positions below the sample's length are masked, at least one token stays
/// visible, and the result depends only on the inputs and <paramref name="rng"/> (seeded = reproducible).
/// </summary>
public interface IMaskingStrategy
{
    string Name { get; }
    /// <param name="embeddings">The sample's rows, [length, dim] row-major (more rows are ignored).</param>
    /// <returns>bool[length], true = masked.</returns>
    bool[] Sample(ReadOnlySpan<float> embeddings, int length, int dim, Random rng);
}

public static class MaskingStrategies
{
    public static IReadOnlyList<string> Names { get; } = ["random", "span", "semantic", "semantic-keep", "uniform"];

    /// <summary>"random" (default ratio 0.4), "semantic" (paper: mask the least predecessor-similar,
    /// default 0.5), "semantic-keep" (published code: keep those, mask the most similar; 0.5),
    /// "uniform" (every k-th; ratio r gives k = round(1 / r)), "span" (contiguous blocks of 8 tokens on
    /// average, default 0.5).</summary>
    public static IMaskingStrategy Create(string name, double? ratio = null) => name.ToLowerInvariant() switch
    {
        "random" => new RandomMasking(ratio ?? 0.4),
        "span" => new SpanMasking(ratio ?? 0.5),
        var n when n.StartsWith("span:") && int.TryParse(n[5..], out var mean) && mean >= 1 => new SpanMasking(ratio ?? 0.5, mean),
        "semantic" => new SemanticMasking(ratio ?? 0.5, maskLeastSimilar: true),
        "semantic-keep" => new SemanticMasking(ratio ?? 0.5, maskLeastSimilar: false),
        "uniform" => new UniformMasking(Math.Max(2, (int)Math.Round(1 / (ratio ?? 0.5)))),
        _ => throw new ArgumentException($"unknown masking strategy '{name}'; known: {string.Join(", ", Names)}"),
    };

    /// <summary>How many of <paramref name="length"/> tokens a ratio masks: the reference keeps
    /// int(L (1 - ratio)), here at least one.</summary>
    public static int MaskedCount(int length, double ratio) => length - Math.Max(1, (int)(length * (1 - ratio)));

    /// <summary>Masks for a whole padded batch, [B * N] (false beyond each length).</summary>
    public static bool[] SampleBatch(this IMaskingStrategy strategy, EmbeddingBatch batch, Random rng)
    {
        var mask = new bool[batch.BatchSize * batch.Tokens];
        for (var i = 0; i < batch.BatchSize; i++)
        {
            var sample = strategy.Sample(batch.Sample(i), batch.Lengths[i], batch.Dim, rng);
            if (sample.Length != batch.Lengths[i]) throw new InvalidOperationException($"{strategy.Name} returned {sample.Length} flags for {batch.Lengths[i]} tokens");
            sample.CopyTo(mask, i * batch.Tokens);
        }
        return mask;
    }
}
