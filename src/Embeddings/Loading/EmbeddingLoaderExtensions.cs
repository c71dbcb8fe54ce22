namespace LvMae.Pipeline;

/// <summary>Loading where one unusable video is left out instead of ending the work (probes, exports, the FSQ fit).</summary>
public static class EmbeddingLoaderExtensions
{
    /// <summary>
    /// One video's embeddings, or null when they cannot be used: the blob is missing or malformed (the
    /// <see cref="EmbeddingLoadException"/> goes to <paramref name="skipped"/>) or, with <paramref name="dimension"/>, its
    /// width is another (left out without a report). Any other exception propagates.
    /// </summary>
    public static async Task<LoadedEmbeddings?> TryLoadAsync(this IEmbeddingLoader loader, EmbeddedVideoDescriptor video, int? dimension = null,
        Action<EmbeddingLoadException>? skipped = null, CancellationToken cancellationToken = default)
    {
        LoadedEmbeddings loaded;
        try { loaded = await loader.LoadAsync(video, cancellationToken).ConfigureAwait(false); }
        catch (EmbeddingLoadException e)
        {
            skipped?.Invoke(e);
            return null;
        }
        return dimension is { } d && loaded.Dimension != d ? null : loaded;
    }
}
