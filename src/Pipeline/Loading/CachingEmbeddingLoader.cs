using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>
/// An LRU cache of loaded embeddings within a byte budget, in front of another loader: every epoch
/// re-reads the same blobs, and a corpus that fits the budget is then read from storage once.
/// Concurrent misses on one video may load it twice; that costs a read, never correctness.
/// </summary>
public sealed class CachingEmbeddingLoader(IEmbeddingLoader inner, long byteBudget) : IEmbeddingLoader
{
    private readonly object _gate = new();
    private readonly LinkedList<((string, string) Key, LoadedEmbeddings Value)> _lru = new();
    private readonly Dictionary<(string, string), LinkedListNode<((string, string) Key, LoadedEmbeddings Value)>> _index = new();
    private long _bytes;

    public long Hits { get; private set; }
    public long Misses { get; private set; }
    public long CachedBytes { get { lock (_gate) return _bytes; } }

    public async Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
    {
        var key = (video.VideoId, BlobLayout.EncoderFileName(video.Encoder));
        lock (_gate)
        {
            if (_index.TryGetValue(key, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                Hits++;
                return node.Value.Value;
            }
            Misses++;
        }
        var loaded = await inner.LoadAsync(video, cancellationToken);
        Remember(key, loaded);
        return loaded;
    }

    private void Remember((string, string) key, LoadedEmbeddings value)
    {
        if (value.SizeBytes > byteBudget) return;
        lock (_gate)
        {
            if (_index.ContainsKey(key)) return;
            _index[key] = _lru.AddFirst((key, value));
            _bytes += value.SizeBytes;
            while (_bytes > byteBudget && _lru.Last is { } oldest)
            {
                _lru.RemoveLast();
                _index.Remove(oldest.Value.Key);
                _bytes -= oldest.Value.Value.SizeBytes;
            }
        }
    }
}
