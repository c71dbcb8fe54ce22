using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>
/// An LRU cache of loaded embeddings within a byte budget, in front of another loader: every epoch
/// re-reads the same blobs, and a corpus that fits the budget is then read from storage once.
/// Concurrent requests for a video being loaded share that one load (the feed's parallel loads overlap
/// across an epoch boundary, so the same video can be asked for twice at once); they count as hits.
/// Training windows (<see cref="OpenAsync"/>) are served from memory when the video is cached; a video not
/// cached is loaded whole and kept while the budget has room for it, and once the budget is full its window is
/// read from the inner loader (range reads) and nothing is evicted: an epoch visits every video once in random
/// order, so churning whole videos through a full cache would not raise the hit rate, only the bytes read.
/// </summary>
public sealed class CachingEmbeddingLoader(IEmbeddingLoader inner, long byteBudget) : IEmbeddingLoader
{
    private readonly object _gate = new();
    private readonly LinkedList<((string, string) Key, LoadedEmbeddings Value)> _lru = new();
    private readonly Dictionary<(string, string), LinkedListNode<((string, string) Key, LoadedEmbeddings Value)>> _index = new();
    private readonly Dictionary<(string, string), Task<LoadedEmbeddings>> _inFlight = new();
    private long _bytes;
    private long _bytesPerSegment;

    public long Hits { get; private set; }
    public long Misses { get; private set; }
    /// <summary>Windows read through the inner loader because the budget was full (nothing cached, nothing evicted).</summary>
    public long Bypassed { get; private set; }
    public long CachedBytes { get { lock (_gate) return _bytes; } }

    public async Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default) =>
        await Lookup(video, admitWhenFull: true)!.WaitAsync(cancellationToken);

    public async Task<IEmbeddingRows> OpenAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default) =>
        Lookup(video, admitWhenFull: false) is { } load
            ? new LoadedEmbeddingRows(await load.WaitAsync(cancellationToken))
            : await inner.OpenAsync(video, cancellationToken);

    /// <summary>
    /// The video from the cache, the load of it already in flight, or a new shared load; null (bypass) when it is
    /// in neither, <paramref name="admitWhenFull"/> is false and the budget has no room left for it.
    /// </summary>
    private Task<LoadedEmbeddings>? Lookup(EmbeddedVideoDescriptor video, bool admitWhenFull)
    {
        var key = (video.VideoId, BlobLayout.EncoderFileName(video.Encoder));
        TaskCompletionSource<LoadedEmbeddings> mine;
        lock (_gate)
        {
            if (_index.TryGetValue(key, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                Hits++;
                return Task.FromResult(node.Value.Value);
            }
            if (_inFlight.TryGetValue(key, out var shared))
            {
                Hits++;
                return shared;
            }
            if (!admitWhenFull && _bytes + Math.Max(1, video.SegmentCount) * _bytesPerSegment > byteBudget)
            {
                Bypassed++;
                return null;
            }
            Misses++;
            mine = new TaskCompletionSource<LoadedEmbeddings>(TaskCreationOptions.RunContinuationsAsynchronously);
            _inFlight[key] = mine.Task;
        }
        // The load is not tied to any caller's token (others may wait on it); every caller waits with its own.
        _ = LoadSharedAsync(key, video, mine);
        return mine.Task;
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
        lock (_gate)
        {
            // What a segment costs, to tell from a descriptor's segment count whether the next video still fits.
            _bytesPerSegment = value.SizeBytes / value.SegmentCount;
            if (value.SizeBytes > byteBudget || _index.ContainsKey(key)) return;
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
