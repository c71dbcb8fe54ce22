using LvMae.Contracts;
using Orleans.Concurrency;

namespace LvMae.Grains.Index;

/// <summary>
/// The corpus index as one thing: fans a call out to the shards and merges, inside the silo the client reached (a stateless
/// worker is local), so clients and the HTTP API need no shard layout. Pages walk the shards in order, a few at a time, and
/// stop as soon as the page is full.
/// </summary>
[StatelessWorker]
[GrainType("lvmae.corpus")]
public sealed class CorpusGrain(IndexLayout layout) : Grain, ICorpusGrain
{
    /// <summary>Shards asked for items at once while a page fills.</summary>
    private const int ShardsPerRound = 4;

    private ICorpusIndexGrain Shard(int shard) => GrainFactory.GetGrain<ICorpusIndexGrain>(shard);
    private IEnumerable<int> AllShards => Enumerable.Range(0, layout.Shards);

    public async Task<CorpusSummary> Summary() => CorpusSummary.Merge(await Task.WhenAll(AllShards.Select(s => Shard(s).Summary())));

    public async Task<VideoPage> Query(VideoQuery query)
    {
        var (first, afterId) = CorpusIndex.ParseCursor(query.Cursor);
        if (first >= layout.Shards) throw new ArgumentException($"cursor '{query.Cursor}' names shard {first} but the index has {layout.Shards}");
        var limit = Math.Max(0, query.Limit);
        var itemQuery = query with { CountMatches = false };

        // Matches of the shards no item round will ask, counted in parallel with the first round.
        var firstRound = Enumerable.Range(first, Math.Min(ShardsPerRound, layout.Shards - first)).ToList();
        var counts = query.CountMatches
            ? Task.WhenAll(AllShards.Except(firstRound).Select(s => Shard(s).Query(query with { Limit = 0 }, null)))
            : Task.FromResult(Array.Empty<ShardPage>());

        var items = new List<VideoIndexEntry>(Math.Min(limit, 1024));
        var matching = 0;
        string? next = null;
        for (var round = firstRound; round.Count > 0 && next is null;)
        {
            var counting = query.CountMatches && round == firstRound;
            var pages = await Task.WhenAll(round.Select(s => Shard(s).Query(counting ? query : itemQuery, s == first ? afterId : null)));
            if (counting) matching += pages.Sum(p => p.Matching);
            for (var i = 0; i < round.Count && next is null && limit > 0; i++)
            {
                var page = pages[i];
                var take = Math.Min(limit - items.Count, page.Items.Count);
                items.AddRange(page.Items.Take(take));
                if (items.Count == limit && (take < page.Items.Count || page.More || round[i] < layout.Shards - 1))
                    next = CorpusIndex.Cursor(round[i], items[^1].Id);
            }
            if (limit == 0) break;
            var after = round[^1] + 1;
            round = Enumerable.Range(after, Math.Max(0, Math.Min(ShardsPerRound, layout.Shards - after))).ToList();
        }
        if (query.CountMatches) matching += (await counts).Sum(p => p.Matching);
        return new VideoPage { Items = items, Matching = query.CountMatches ? matching : -1, Next = next };
    }

    public Task<VideoIndexEntry?> Get(string videoId) => Shard(layout.ShardOf(videoId)).Get(videoId);

    public async Task<IReadOnlyList<VideoIndexEntry>> GetMany(IReadOnlyList<string> videoIds)
    {
        var parts = await Task.WhenAll(videoIds.Distinct(StringComparer.Ordinal).GroupBy(layout.ShardOf)
            .Select(g => Shard(g.Key).GetMany(g.ToList())));
        return parts.SelectMany(p => p).ToList();
    }

    public async Task<IReadOnlyList<IndexShardHealth>> Health() => await Task.WhenAll(AllShards.Select(s => Shard(s).Health()));
}
