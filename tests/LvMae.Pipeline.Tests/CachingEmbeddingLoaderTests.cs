using static LvMae.Pipeline.Tests.TestCorpus;

namespace LvMae.Pipeline.Tests;

public class CachingEmbeddingLoaderTests
{
    [Fact]
    public async Task Keeps_recently_used_videos_within_the_byte_budget()
    {
        var inner = new InMemoryEmbeddingLoader();
        for (var k = 0; k < 4; k++)
        {
            var e = new LoadedEmbeddings(Id(k), new float[100], 25, 4); // 400 bytes each
            inner.Add(e);
        }
        var counting = new InstrumentedLoader(inner);
        var cache = new CachingEmbeddingLoader(counting, byteBudget: 1000); // room for two
        Task Load(int k) => cache.LoadAsync(new EmbeddedVideoDescriptor(Id(k), Encoder));

        await Load(0); await Load(1); await Load(0); // 0 is now the most recent
        await Load(2);                               // evicts 1, the least recent
        await Load(0);
        Assert.Equal(2, cache.Hits);
        await Load(1);
        Assert.Equal(4, counting.Loaded);
        Assert.True(cache.CachedBytes <= 1000);
    }

    [Fact]
    public async Task Windows_come_from_memory_while_the_budget_has_room_then_straight_from_the_inner_loader_without_evicting()
    {
        var inner = new RowCountingLoader();
        for (var k = 0; k < 4; k++) inner.Add(new LoadedEmbeddings(Id(k), Enumerable.Range(0, 100).Select(i => (float)(k * 1000 + i)).ToArray(), 25, 4));
        var cache = new CachingEmbeddingLoader(inner, byteBudget: 1000);   // room for two 400-byte videos
        async Task<float[]> Window(int k) => await (await cache.OpenAsync(new EmbeddedVideoDescriptor(Id(k), Encoder, 25))).ReadRowsAsync(2, 3);

        Assert.Equal(Enumerable.Range(8, 12).Select(i => (float)i), await Window(0));
        await Window(1);
        Assert.Equal(Enumerable.Range(2008, 12).Select(i => (float)i), await Window(2));   // full: read from the inner loader
        await Window(3);
        await Window(0);
        await Window(1);
        Assert.Equal((2L, 2L, 2L), (cache.Hits, cache.Misses, cache.Bypassed));
        Assert.Equal(800, cache.CachedBytes);                      // 0 and 1 stayed; 2 and 3 were not admitted
        Assert.Equal(2, inner.WholeLoads);
        Assert.Equal([Id(2), Id(3)], inner.Opened.Order());      // only those went past the cache, for their rows alone
    }

    [Fact]
    public async Task Failures_are_not_cached()
    {
        var cache = new CachingEmbeddingLoader(new InMemoryEmbeddingLoader(), byteBudget: 1 << 20);
        await Assert.ThrowsAsync<EmbeddingLoadException>(() => cache.LoadAsync(new EmbeddedVideoDescriptor("x", Encoder)));
        await Assert.ThrowsAsync<EmbeddingLoadException>(() => cache.LoadAsync(new EmbeddedVideoDescriptor("x", Encoder)));
        Assert.Equal(0, cache.Hits);
    }

    [Fact]
    public async Task Concurrent_requests_share_one_load_and_each_waits_with_its_own_token()
    {
        var gated = new GatedLoader();
        var cache = new CachingEmbeddingLoader(gated, byteBudget: 1 << 20);
        var video = new EmbeddedVideoDescriptor(Id(0), Encoder);
        var first = cache.LoadAsync(video);
        using var cancelled = new CancellationTokenSource();
        var impatient = cache.LoadAsync(video, cancelled.Token);
        var second = cache.LoadAsync(video);
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);   // its wait ends; the load goes on

        gated.Release.SetResult(new LoadedEmbeddings(Id(0), new float[8], 2, 4));
        Assert.Same(await first, await second);
        Assert.Equal(1, gated.Calls);
        Assert.Equal((2L, 1L), (cache.Hits, cache.Misses));
        Assert.Same(await first, await cache.LoadAsync(video));   // and it is cached afterwards
    }

    /// <summary>In-memory videos; counts whole loads and the videos opened for row reads (a blob loader's range reads).</summary>
    private sealed class RowCountingLoader : IEmbeddingLoader
    {
        private readonly InMemoryEmbeddingLoader _videos = new();
        public int WholeLoads;
        public List<string> Opened { get; } = [];

        public void Add(LoadedEmbeddings embeddings) => _videos.Add(embeddings);

        public Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref WholeLoads);
            return _videos.LoadAsync(video, cancellationToken);
        }

        public async Task<IEmbeddingRows> OpenAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
        {
            lock (Opened) Opened.Add(video.VideoId);
            return new LoadedEmbeddingRows(await _videos.LoadAsync(video, cancellationToken));
        }
    }

    private sealed class GatedLoader : IEmbeddingLoader
    {
        public TaskCompletionSource<LoadedEmbeddings> Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Calls;
        public Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Calls);
            return Release.Task;
        }
    }
}
