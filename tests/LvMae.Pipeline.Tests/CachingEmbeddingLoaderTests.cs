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
}
