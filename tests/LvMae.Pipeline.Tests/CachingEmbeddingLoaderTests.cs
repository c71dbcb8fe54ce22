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
