using LvMae.Model.Data;

namespace LvMae.Model.Tests;

/// <summary>Seeded synthetic segment embeddings for tests.</summary>
internal static class Synthetic
{
    public static float[] Video(Random rng, int segments, int dim)
    {
        var data = new float[segments * dim];
        for (var i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    /// <summary>A smooth video: a random walk so neighbouring segments are similar.</summary>
    public static float[] SmoothVideo(Random rng, int segments, int dim, double step = 0.3)
    {
        var data = new float[segments * dim];
        for (var k = 0; k < dim; k++) data[k] = (float)(rng.NextDouble() * 2 - 1);
        for (var j = 1; j < segments; j++)
            for (var k = 0; k < dim; k++)
                data[j * dim + k] = data[(j - 1) * dim + k] + (float)((rng.NextDouble() * 2 - 1) * step);
        return data;
    }

    public static EmbeddingBatch Batch(int seed, int dim, params int[] lengths)
    {
        var rng = new Random(seed);
        return EmbeddingBatch.FromSequences(lengths.Select(n => Video(rng, n, dim)).ToList(), dim);
    }

    public static MaeConfig TinyConfig(int dim = 16, int maxTokens = 32) => new()
    {
        EmbeddingDim = dim, MaxTokens = maxTokens, EncoderDepth = 2, EncoderHeads = 2,
        DecoderDim = 16, DecoderDepth = 1, DecoderHeads = 2,
    };
}
