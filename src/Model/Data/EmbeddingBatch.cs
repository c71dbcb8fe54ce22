using static TorchSharp.torch;

namespace LvMae.Model.Data;

/// <summary>
/// A padded batch as plain arrays, the hand-off format between the Dataflow pipeline and the
/// trainer: <paramref name="Data"/> is [B, Tokens, Dim] row-major, zero beyond each sample's length.
/// Embeddings are raw (the model L2-normalises them).
/// </summary>
public sealed class EmbeddingBatch
{
    public float[] Data { get; }
    public int[] Lengths { get; }
    public int Tokens { get; }
    public int Dim { get; }
    public int BatchSize => Lengths.Length;
    /// <summary>Valid tokens in the batch.</summary>
    public long TotalTokens => Lengths.Sum(l => (long)l);

    /// <param name="maxTokens">The padded length N of this batch (at most the model's max tokens).</param>
    public EmbeddingBatch(float[] data, int[] lengths, int maxTokens, int dim)
    {
        if (lengths.Length == 0) throw new ArgumentException("a batch needs at least one sample", nameof(lengths));
        if (data.LongLength != (long)lengths.Length * maxTokens * dim)
            throw new ArgumentException($"data holds {data.Length} floats, expected {lengths.Length} x {maxTokens} x {dim}", nameof(data));
        if (lengths.Any(l => l < 1 || l > maxTokens))
            throw new ArgumentException($"every length must be in [1, {maxTokens}]: [{string.Join(", ", lengths)}]", nameof(lengths));
        Data = data; Lengths = lengths; Tokens = maxTokens; Dim = dim;
    }

    /// <summary>Sample i's rows, [length, dim].</summary>
    public ReadOnlySpan<float> Sample(int i) => Data.AsSpan(i * Tokens * Dim, Lengths[i] * Dim);

    public Tensor ToTensor(Device? device = null) => tensor(Data, new long[] { BatchSize, Tokens, Dim }, device: device);

    /// <summary>Pads whole sequences (each [n_i, dim] row-major) into one batch; longer than
    /// <paramref name="maxTokens"/> is an error (window them first).</summary>
    public static EmbeddingBatch FromSequences(IReadOnlyList<float[]> sequences, int dim, int? maxTokens = null)
    {
        var lengths = sequences.Select(s => s.Length % dim == 0 ? s.Length / dim : throw new ArgumentException($"a sequence of {s.Length} floats is not a multiple of dim {dim}")).ToArray();
        var tokens = lengths.Max();
        if (maxTokens is { } cap && tokens > cap) throw new ArgumentException($"a sequence of {tokens} tokens exceeds {cap}; window it first");
        var data = new float[sequences.Count * tokens * dim];
        for (var i = 0; i < sequences.Count; i++) sequences[i].CopyTo(data, i * tokens * dim);
        return new EmbeddingBatch(data, lengths, tokens, dim);
    }

    /// <summary>One training batch by dynamic duration sampling: for each video ([n_i, dim]
    /// row-major) draw a window with <see cref="DurationWindow.Sample"/>, then pad.</summary>
    public static EmbeddingBatch FromVideos(IReadOnlyList<float[]> videos, int dim, DurationWindowOptions options, Random rng)
    {
        var windows = new float[videos.Count][];
        for (var i = 0; i < videos.Count; i++)
        {
            var segments = videos[i].Length / dim;
            var indices = DurationWindow.Sample(segments, options, rng);
            var window = new float[indices.Length * dim];
            for (var k = 0; k < indices.Length; k++) Array.Copy(videos[i], indices[k] * dim, window, k * dim, dim);
            windows[i] = window;
        }
        return FromSequences(windows, dim, options.MaxTokens);
    }
}
