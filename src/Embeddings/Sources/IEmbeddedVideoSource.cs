namespace LvMae.Pipeline;

/// <summary>
/// Lists the videos embedded with one encoder. The training feed enumerates it afresh at every epoch,
/// so videos embedded while a run is going are picked up by the next epoch. The corpus index grain
/// implements it in production; <see cref="InMemoryEmbeddedVideoSource"/> and
/// <see cref="BlobEmbeddedVideoSource"/> serve tests, benchmarks and index-less set-ups.
/// </summary>
public interface IEmbeddedVideoSource
{
    /// <summary>Videos with embeddings for <paramref name="encoder"/>, in any order (the feed sorts and shuffles).</summary>
    IAsyncEnumerable<EmbeddedVideoDescriptor> ListAsync(string encoder, CancellationToken cancellationToken = default);
}
