namespace LvMae.Pipeline;

/// <summary>A video's segment embeddings, row-major [SegmentCount, Dimension] float32.</summary>
public sealed record LoadedEmbeddings(string VideoId, float[] Values, int SegmentCount, int Dimension)
{
    public long SizeBytes => (long)Values.Length * sizeof(float);

    /// <summary>Row <paramref name="segment"/> (one segment's embedding).</summary>
    public ReadOnlySpan<float> Row(int segment) => Values.AsSpan(segment * Dimension, Dimension);
}

/// <summary>Loads one video's embeddings; throws <see cref="EmbeddingLoadException"/> for a missing or malformed blob.</summary>
public interface IEmbeddingLoader
{
    Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default);
}

/// <summary>This video's embeddings cannot be used (missing, corrupt, wrong shape or dtype); other videos are unaffected.</summary>
public sealed class EmbeddingLoadException(string videoId, string reason, Exception? inner = null)
    : Exception($"video '{videoId}': {reason}", inner)
{
    public string VideoId { get; } = videoId;
    public string Reason { get; } = reason;
}
