using System.Collections.Concurrent;

namespace LvMae.Pipeline;

/// <summary>Embeddings held in a dictionary by video id (tests, benchmarks, small corpora).</summary>
public sealed class InMemoryEmbeddingLoader : IEmbeddingLoader
{
    private readonly ConcurrentDictionary<string, LoadedEmbeddings> _byVideo = new();

    public void Add(LoadedEmbeddings embeddings) => _byVideo[embeddings.VideoId] = embeddings;

    public Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default) =>
        _byVideo.TryGetValue(video.VideoId, out var found)
            ? Task.FromResult(found)
            : Task.FromException<LoadedEmbeddings>(new EmbeddingLoadException(video.VideoId, "no embeddings in memory"));
}
