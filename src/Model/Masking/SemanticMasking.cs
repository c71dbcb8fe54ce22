namespace LvMae.Model.Masking;

/// <summary>
/// Semantic masking. Score each token by the cosine similarity to its predecessor (the first token,
/// which has none, takes the score of the pair (0, 1), so neither variant singles it out). The paper masks the lowest-scoring tokens, the
/// segments that change the story (<c>maskLeastSimilar: true</c>, "semantic"); the authors' published
/// code keeps them and masks the most similar ones instead ("semantic-keep"), offered for the ablation.
/// Ties are broken by position (deterministic; the rng is unused).
/// </summary>
public sealed class SemanticMasking(double ratio = 0.5, bool maskLeastSimilar = true) : IMaskingStrategy
{
    public double Ratio { get; } = ratio is >= 0 and < 1 ? ratio : throw new ArgumentOutOfRangeException(nameof(ratio));
    public bool MaskLeastSimilar { get; } = maskLeastSimilar;
    public string Name => MaskLeastSimilar ? "semantic" : "semantic-keep";

    public static double[] PredecessorSimilarity(ReadOnlySpan<float> embeddings, int length, int dim)
    {
        var scores = new double[length];
        for (var j = 1; j < length; j++)
        {
            scores[j] = VectorMath.Cosine(embeddings.Slice((j - 1) * dim, dim), embeddings.Slice(j * dim, dim));
        }
        if (length > 0) scores[0] = length > 1 ? scores[1] : 1;
        return scores;
    }

    public bool[] Sample(ReadOnlySpan<float> embeddings, int length, int dim, Random rng)
    {
        var scores = PredecessorSimilarity(embeddings, length, dim);
        var order = Enumerable.Range(0, length)
            .OrderBy(j => MaskLeastSimilar ? scores[j] : -scores[j])
            .ThenBy(j => j)
            .ToArray();
        var mask = new bool[length];
        foreach (var position in order.Take(MaskingStrategies.MaskedCount(length, Ratio))) mask[position] = true;
        return mask;
    }
}
