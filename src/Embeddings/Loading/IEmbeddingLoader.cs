namespace LvMae.Pipeline;

/// <summary>A video's segment embeddings, row-major [SegmentCount, Dimension] float32.</summary>
public sealed record LoadedEmbeddings(string VideoId, float[] Values, int SegmentCount, int Dimension)
{
    public long SizeBytes => (long)Values.Length * sizeof(float);

    /// <summary>Row <paramref name="segment"/> (one segment's embedding).</summary>
    public ReadOnlySpan<float> Row(int segment) => Values.AsSpan(segment * Dimension, Dimension);
}

/// <summary>
/// One video's embeddings opened for reading rows: the shape is known (and validated) once it is open, rows are
/// read on demand. A blob reader fetches only those rows (HTTP ranges); an in-memory one slices.
/// </summary>
public interface IEmbeddingRows
{
    int SegmentCount { get; }
    int Dimension { get; }

    /// <summary>Rows [first, first + count) as float32, row-major; non-finite values are refused like a corrupt file.</summary>
    Task<float[]> ReadRowsAsync(int first, int count, CancellationToken cancellationToken = default);
}

/// <summary>Loads one video's embeddings; throws <see cref="EmbeddingLoadException"/> for a missing or malformed blob.</summary>
public interface IEmbeddingLoader
{
    /// <summary>The whole video (probing, export, caching).</summary>
    Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens the video for reading some rows (a training window). By default the whole video is loaded and sliced;
    /// loaders that can read part of a file (<see cref="BlobEmbeddingLoader"/>) read just the header here.
    /// </summary>
    async Task<IEmbeddingRows> OpenAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default) =>
        new LoadedEmbeddingRows(await LoadAsync(video, cancellationToken));
}

/// <summary>Rows of a video already in memory.</summary>
public sealed class LoadedEmbeddingRows(LoadedEmbeddings embeddings) : IEmbeddingRows
{
    public int SegmentCount => embeddings.SegmentCount;
    public int Dimension => embeddings.Dimension;

    public Task<float[]> ReadRowsAsync(int first, int count, CancellationToken cancellationToken = default)
    {
        EmbeddingValidation.CheckRowRange(embeddings.VideoId, first, count, SegmentCount);
        return Task.FromResult(embeddings.Values.AsSpan(first * Dimension, count * Dimension).ToArray());
    }
}

/// <summary>This video's embeddings cannot be used (missing, corrupt, wrong shape or dtype); other videos are unaffected.</summary>
public sealed class EmbeddingLoadException(string videoId, string reason, Exception? inner = null)
    : Exception($"video '{videoId}': {reason}", inner)
{
    public string VideoId { get; } = videoId;
    public string Reason { get; } = reason;
}
