namespace LvMae.Contracts;

/// <summary>What the corpus index knows about one video (small: ids, stage, encoder, labels, failure).</summary>
[GenerateSerializer, Alias("lvmae.VideoIndexEntry")]
public sealed record VideoIndexEntry
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public VideoStage Stage { get; init; }
    [Id(2)] public string? Encoder { get; init; }
    [Id(3)] public IReadOnlyList<string> Labels { get; init; } = [];
    [Id(4)] public IReadOnlyList<string> EmbeddedEncoders { get; init; } = [];
    [Id(5)] public string? FailureKind { get; init; }
    [Id(6)] public string? FailureMessage { get; init; }
    [Id(7)] public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>The video's transition counter: an update with a lower version than the stored one is ignored.</summary>
    [Id(8)] public long Version { get; init; }
    [Id(9)] public int SegmentCount { get; init; }
    [Id(10)] public string? OriginalName { get; init; }

    /// <summary>Value equality including the lists (record equality compares list references).</summary>
    public bool SameAs(VideoIndexEntry? other) =>
        other is not null && Id == other.Id && Stage == other.Stage && Encoder == other.Encoder && FailureKind == other.FailureKind &&
        FailureMessage == other.FailureMessage && UpdatedAt == other.UpdatedAt && Version == other.Version &&
        SegmentCount == other.SegmentCount && OriginalName == other.OriginalName &&
        Labels.SequenceEqual(other.Labels) && EmbeddedEncoders.SequenceEqual(other.EmbeddedEncoders);
}

/// <summary>Counts over the corpus (or one shard).</summary>
[GenerateSerializer, Alias("lvmae.CorpusSummary")]
public sealed record CorpusSummary
{
    [Id(0)] public int Total { get; init; }
    [Id(1)] public Dictionary<VideoStage, int> ByStage { get; init; } = [];
    /// <summary>Embedded videos per encoder.</summary>
    [Id(2)] public Dictionary<string, int> ByEncoder { get; init; } = [];
    [Id(3)] public Dictionary<string, int> ByLabel { get; init; } = [];
    [Id(4)] public Dictionary<string, int> FailuresByKind { get; init; } = [];
    [Id(5)] public long Segments { get; init; }

    public static CorpusSummary Merge(IEnumerable<CorpusSummary> parts)
    {
        var result = new CorpusSummary();
        var total = 0;
        long segments = 0;
        foreach (var p in parts)
        {
            total += p.Total;
            segments += p.Segments;
            foreach (var (k, v) in p.ByStage) result.ByStage[k] = result.ByStage.GetValueOrDefault(k) + v;
            foreach (var (k, v) in p.ByEncoder) result.ByEncoder[k] = result.ByEncoder.GetValueOrDefault(k) + v;
            foreach (var (k, v) in p.ByLabel) result.ByLabel[k] = result.ByLabel.GetValueOrDefault(k) + v;
            foreach (var (k, v) in p.FailuresByKind) result.FailuresByKind[k] = result.FailuresByKind.GetValueOrDefault(k) + v;
        }
        return result with { Total = total, Segments = segments };
    }
}

/// <summary>A filter over the index; null fields match everything. Results are ordered by id.</summary>
[GenerateSerializer, Alias("lvmae.VideoQuery")]
public sealed record VideoQuery
{
    [Id(0)] public VideoStage? Stage { get; init; }
    [Id(1)] public string? Encoder { get; init; }
    [Id(2)] public string? Label { get; init; }
    /// <summary>Only ids greater than this (paging: pass the last id of the previous page).</summary>
    [Id(3)] public string? After { get; init; }
    [Id(4)] public int Limit { get; init; } = 100;
    /// <summary>Only non-terminal videos last updated before this (the resumer's sweep).</summary>
    [Id(5)] public DateTimeOffset? StaleBefore { get; init; }
}

[GenerateSerializer, Alias("lvmae.VideoPage")]
public sealed record VideoPage
{
    [Id(0)] public IReadOnlyList<VideoIndexEntry> Items { get; init; } = [];
    /// <summary>How many entries match in total (all pages).</summary>
    [Id(1)] public int Matching { get; init; }
}

/// <summary>
/// One shard of the corpus index (key = shard number, <see cref="CorpusIndex.ShardOf"/>): video grains upsert their entry on each
/// transition; queries never touch video grains. Persisted (group commit: concurrent upserts share one write).
/// </summary>
[Alias("lvmae.ICorpusIndexGrain")]
public interface ICorpusIndexGrain : IGrainWithIntegerKey
{
    /// <summary>Stores the entry (ignored when older than the stored one); returns once it is durable.</summary>
    [Alias("Upsert")] Task Upsert(VideoIndexEntry entry);
    [Alias("Summary")] Task<CorpusSummary> Summary();
    [Alias("Query")] Task<VideoPage> Query(VideoQuery query);
    [Alias("Get")] Task<VideoIndexEntry?> Get(string videoId);
}

/// <summary>The sharding of the corpus index and the fan-out queries over it (clients and silos alike).</summary>
public static class CorpusIndex
{
    public const int Shards = 16;

    /// <summary>Stable across processes (not string.GetHashCode).</summary>
    public static int ShardOf(string videoId)
    {
        uint hash = 2166136261;
        foreach (var c in videoId) hash = (hash ^ c) * 16777619;
        return (int)(hash % Shards);
    }

    public static ICorpusIndexGrain ShardFor(this IGrainFactory grains, string videoId) => grains.GetGrain<ICorpusIndexGrain>(ShardOf(videoId));

    public static async Task<CorpusSummary> SummaryAsync(this IGrainFactory grains) =>
        CorpusSummary.Merge(await Task.WhenAll(Enumerable.Range(0, Shards).Select(s => grains.GetGrain<ICorpusIndexGrain>(s).Summary())));

    /// <summary>Merged page over all shards, ordered by id.</summary>
    public static async Task<VideoPage> QueryAsync(this IGrainFactory grains, VideoQuery query)
    {
        var pages = await Task.WhenAll(Enumerable.Range(0, Shards).Select(s => grains.GetGrain<ICorpusIndexGrain>(s).Query(query)));
        var items = pages.SelectMany(p => p.Items).OrderBy(e => e.Id, StringComparer.Ordinal).Take(Math.Max(0, query.Limit)).ToList();
        return new VideoPage { Items = items, Matching = pages.Sum(p => p.Matching) };
    }
}
