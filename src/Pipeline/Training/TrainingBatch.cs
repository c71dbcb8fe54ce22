using LvMae.Model.Data;

namespace LvMae.Pipeline;

/// <summary>
/// What the trainer receives: B windowed samples, zero-padded to the longest one. Plain arrays, so the
/// pipeline knows nothing of tensors; the trainer builds [B, N, d] and its padding mask from these.
/// </summary>
public sealed class TrainingBatch
{
    /// <summary>Row-major [B, MaxLength, Dimension]; positions at or beyond a sample's length are 0.</summary>
    public required float[] Embeddings { get; init; }
    /// <summary>Valid tokens of each sample (the rest is padding).</summary>
    public required int[] Lengths { get; init; }
    public required string[] VideoIds { get; init; }
    /// <summary>N: the longest sample in this batch.</summary>
    public required int MaxLength { get; init; }
    public required int Dimension { get; init; }
    /// <summary>The pass over the corpus this batch belongs to (0-based); a batch never mixes epochs.</summary>
    public required long Epoch { get; init; }
    /// <summary>Position of this batch within its epoch (0-based).</summary>
    public required int IndexInEpoch { get; init; }
    /// <summary>Per sample: task -> label, null for unlabelled videos; null when no sample has labels.</summary>
    public IReadOnlyDictionary<string, string>?[]? Labels { get; init; }

    public int Count => VideoIds.Length;
    public long PaddedTokens => (long)Count * MaxLength;
    public long ValidTokens => Lengths.Sum(l => (long)l);

    /// <summary>True where sample b has a real token at position t (false = padding).</summary>
    public bool IsValid(int b, int t) => t < Lengths[b];

    /// <summary>The trainer's view of this batch (shares the array, no copy).</summary>
    public EmbeddingBatch ToEmbeddingBatch() => new(Embeddings, Lengths, MaxLength, Dimension);

    /// <summary>Packs samples (all of one epoch and dimension) into a zero-padded batch.</summary>
    public static TrainingBatch Pack(IReadOnlyList<WindowedSample> samples, int dimension, int indexInEpoch)
    {
        if (samples.Count == 0) throw new ArgumentException("a batch needs at least one sample", nameof(samples));
        var maxLength = samples.Max(s => s.Length);
        var embeddings = new float[samples.Count * maxLength * dimension];
        for (var b = 0; b < samples.Count; b++)
            samples[b].Tokens.AsSpan(0, samples[b].Length * dimension).CopyTo(embeddings.AsSpan(b * maxLength * dimension));
        var labels = samples.Any(s => s.Labels is not null) ? samples.Select(s => s.Labels).ToArray() : null;
        return new TrainingBatch
        {
            Embeddings = embeddings,
            Lengths = samples.Select(s => s.Length).ToArray(),
            VideoIds = samples.Select(s => s.VideoId).ToArray(),
            MaxLength = maxLength,
            Dimension = dimension,
            Epoch = samples[0].Epoch,
            IndexInEpoch = indexInEpoch,
            Labels = labels,
        };
    }
}
