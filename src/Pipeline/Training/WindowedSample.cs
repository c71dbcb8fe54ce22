using LvMae.Model.Data;

namespace LvMae.Pipeline;

/// <summary>One training sample: a duration window of one video's embeddings, row-major [Length, d].</summary>
public sealed record WindowedSample(
    long Epoch, string VideoId, float[] Tokens, int Length, int[] SegmentIndices, IReadOnlyDictionary<string, string>? Labels)
{
    /// <summary>
    /// Draws the window with an RNG derived from (seed, epoch, video id) alone, so a sample never depends
    /// on load order or parallelism, and copies those rows out (the full video need not stay alive).
    /// </summary>
    public static WindowedSample Draw(
        long epoch, EmbeddedVideoDescriptor video, LoadedEmbeddings embeddings, DurationWindowOptions window, int seed)
    {
        var rng = new Random(SampleSeeds.ForSample(seed, epoch, video.VideoId));
        var indices = DurationWindow.Sample(embeddings.SegmentCount, window, rng);
        var d = embeddings.Dimension;
        var tokens = new float[indices.Length * d];
        for (var i = 0; i < indices.Length; i++) embeddings.Row(indices[i]).CopyTo(tokens.AsSpan(i * d, d));
        return new WindowedSample(epoch, video.VideoId, tokens, indices.Length, indices, video.Labels);
    }
}
