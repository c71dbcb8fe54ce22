using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>
/// An LRU cache of loaded embeddings within a byte budget, in front of another loader: every epoch
/// re-reads the same blobs, and a corpus that fits the budget is then read from storage once.
/// Concurrent requests for a video being loaded share that one load (the feed's parallel loads overlap
/// across an epoch boundary, so the same video can be asked for twice at once); they count as hits.
/// </summary>
public sealed class CachingEmbeddingLoader(IEmbeddingLoader inner, long byteBudget) : IEmbeddingLoader
{
    private readonly object _gate = new();
    private readonly LinkedList<((string, string) Key, LoadedEmbeddings Value)> _lru = new();
    private readonly Dictionary<(string, string), LinkedListNode<((string, string) Key, LoadedEmbeddings Value)>> _index = new();
    private readonly Dictionary<(string, string), Task<LoadedEmbeddings>> _inFlight = new();
    private long _bytes;

    public long Hits { get; private set; }
    public long Misses { get; private set; }
    public long CachedBytes { get { lock (_gate) return _bytes; } }

    public async Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
    {
        var key = (video.VideoId, BlobLayout.EncoderFileName(video.Encoder));
        TaskCompletionSource<LoadedEmbeddings>? mine = null;
        Task<LoadedEmbeddings> load;
        lock (_gate)
        {
            if (_index.TryGetValue(key, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                Hits++;
                return node.Value.Value;
            }
            if (_inFlight.TryGetValue(key, out var shared)) { Hits++; load = shared; }
            else
            {
                Misses++;
                mine = new TaskCompletionSource<LoadedEmbeddings>(TaskCreationOptions.RunContinuationsAsynchronously);
                load = _inFlight[key] = mine.Task;
            }
        }
        // The load is not tied to this caller's token (others may wait on it); every caller waits with its own.
        if (mine is not null) _ = LoadSharedAsync(key, video, mine);
        return await load.WaitAsync(cancellationToken);
    }

    private async Task LoadSharedAsync((string, string) key, EmbeddedVideoDescriptor video, TaskCompletionSource<LoadedEmbeddings> result)
    {
        try
        {
            var loaded = await inner.LoadAsync(video, CancellationToken.None);
            Remember(key, loaded);   // cached before it leaves the in-flight table: no window where a request misses both
            result.SetResult(loaded);
        }
        catch (Exception e) { result.SetException(e); }
        finally { lock (_gate) _inFlight.Remove(key); }
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
