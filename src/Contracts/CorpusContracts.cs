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
    /// <summary>Set when the video embedded with a caveat (e.g. "truncated: 37.3 of 60.0 s decodable").</summary>
    [Id(11)] public string? Warning { get; init; }
    /// <summary>Failed videos: whether retrying the same input cannot help (<see cref="VideoFailure.Permanent"/>); null when not
    /// failed, or for entries written before the index carried it.</summary>
    [Id(12)] public bool? FailurePermanent { get; init; }

    /// <summary>Value equality including the lists (record equality compares list references).</summary>
    public bool SameAs(VideoIndexEntry? other) =>
        other is not null && Id == other.Id && Stage == other.Stage && Encoder == other.Encoder && FailureKind == other.FailureKind &&
        FailureMessage == other.FailureMessage && UpdatedAt == other.UpdatedAt && Version == other.Version &&
        SegmentCount == other.SegmentCount && OriginalName == other.OriginalName && Warning == other.Warning && FailurePermanent == other.FailurePermanent &&
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
    /// <summary>Distinct labels left out of <see cref="ByLabel"/>, which keeps the <see cref="MaxLabels"/> most frequent.</summary>
    [Id(6)] public int OtherLabels { get; init; }

    public const int MaxLabels = 1000;

    public static CorpusSummary Merge(IEnumerable<CorpusSummary> parts)
    {
        var result = new CorpusSummary();
        var total = 0;
        var other = 0;
        long segments = 0;
        foreach (var p in parts)
        {
            total += p.Total;
            segments += p.Segments;
            other = Math.Max(other, p.OtherLabels);
            foreach (var (k, v) in p.ByStage) result.ByStage[k] = result.ByStage.GetValueOrDefault(k) + v;
            foreach (var (k, v) in p.ByEncoder) result.ByEncoder[k] = result.ByEncoder.GetValueOrDefault(k) + v;
            foreach (var (k, v) in p.ByLabel) result.ByLabel[k] = result.ByLabel.GetValueOrDefault(k) + v;
            foreach (var (k, v) in p.FailuresByKind) result.FailuresByKind[k] = result.FailuresByKind.GetValueOrDefault(k) + v;
        }
        if (result.ByLabel.Count > MaxLabels)
        {
            var keep = result.ByLabel.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(MaxLabels).ToDictionary();
            other += result.ByLabel.Count - keep.Count;
            result = result with { ByLabel = keep };
        }
        return result with { Total = total, Segments = segments, OtherLabels = other };
    }
}

/// <summary>A filter over the index; null fields match everything. Pages are ordered by (index shard, id): a stable order
/// in which paging with <see cref="Cursor"/> returns every matching video once, even while videos change state.</summary>
[GenerateSerializer, Alias("lvmae.VideoQuery")]
public sealed record VideoQuery
{
    [Id(0)] public VideoStage? Stage { get; init; }
    [Id(1)] public string? Encoder { get; init; }
    [Id(2)] public string? Label { get; init; }
    /// <summary>Where the previous page ended (<see cref="VideoPage.Next"/>); null = from the start.</summary>
    [Id(3)] public string? Cursor { get; init; }
    [Id(4)] public int Limit { get; init; } = 100;
    /// <summary>Only non-terminal videos last updated before this (stuck work).</summary>
    [Id(5)] public DateTimeOffset? StaleBefore { get; init; }
    /// <summary>Also count every match (all pages) into <see cref="VideoPage.Matching"/>; costs a pass over the smallest matching set when several filters are given.</summary>
    [Id(6)] public bool CountMatches { get; init; } = true;
    /// <summary>Only ids starting with this (ordinal): a range of each shard's id-ordered sets, never a scan of the shard.</summary>
    [Id(7)] public string? IdPrefix { get; init; }
}

[GenerateSerializer, Alias("lvmae.VideoPage")]
public sealed record VideoPage
{
    [Id(0)] public IReadOnlyList<VideoIndexEntry> Items { get; init; } = [];
    /// <summary>How many entries match in total (all pages); -1 when not counted.</summary>
    [Id(1)] public int Matching { get; init; }
    /// <summary>The cursor of the next page, or null when this page is the last.</summary>
    [Id(2)] public string? Next { get; init; }
}

/// <summary>One shard's part of a page: items after the cursor's id within the shard.</summary>
[GenerateSerializer, Alias("lvmae.ShardPage")]
public sealed record ShardPage
{
    [Id(0)] public IReadOnlyList<VideoIndexEntry> Items { get; init; } = [];
    [Id(1)] public int Matching { get; init; }
    /// <summary>True when the shard holds more matching items after the last one returned.</summary>
    [Id(2)] public bool More { get; init; }
}

/// <summary>How far the index is from the video grains' persisted state (see <see cref="ICorpusAuditGrain"/>).</summary>
[GenerateSerializer, Alias("lvmae.IndexShardHealth")]
public sealed record IndexShardHealth
{
    [Id(0)] public int Shard { get; init; }
    [Id(1)] public int Entries { get; init; }
    [Id(2)] public int Pending { get; init; }
    [Id(3)] public int InFlight { get; init; }
    [Id(4)] public long Generation { get; init; }
    [Id(5)] public long LogBytes { get; init; }
    [Id(6)] public long BytesWritten { get; init; }
    /// <summary>Videos whose dispatch kept failing, set aside until their entry changes.</summary>
    [Id(7)] public int Parked { get; init; }
}

/// <summary>
/// One shard of the corpus index (key = shard number, <see cref="IndexLayout.ShardOf"/>): video grains upsert their entry on
/// each transition; queries never touch video grains. Durable as a snapshot plus an append-only log in blob storage (group
/// commit: concurrent upserts share one append). The shard also drives its non-terminal videos' work: it asks up to a
/// bounded number of them at a time to process (<see cref="IVideoGrain.Process"/>), and an Orleans reminder brings it back
/// after a silo loss while any of its videos is unfinished.
/// </summary>
[Alias("lvmae.ICorpusIndexGrain")]
public interface ICorpusIndexGrain : IGrainWithIntegerKey
{
    /// <summary>Stores the entry (ignored when older than the stored one); returns once it is durable.</summary>
    [Alias("Upsert")] Task Upsert(VideoIndexEntry entry);
    /// <summary>Stores several entries with one durable append (rebuilds); older versions are ignored.</summary>
    [Alias("UpsertMany")] Task UpsertMany(IReadOnlyList<VideoIndexEntry> entries);
    /// <summary>Removes entries whose video has no persisted state (audit repair).</summary>
    [Alias("Remove")] Task Remove(IReadOnlyList<string> videoIds);
    [Alias("Summary")] Task<CorpusSummary> Summary();
    /// <summary>Items with id greater than <paramref name="afterId"/> (null = from the first) that match.</summary>
    [Alias("Query")] Task<ShardPage> Query(VideoQuery query, string? afterId);
    [Alias("Get")] Task<VideoIndexEntry?> Get(string videoId);
    [Alias("GetMany")] Task<IReadOnlyList<VideoIndexEntry>> GetMany(IReadOnlyList<string> videoIds);
    [Alias("Health")] Task<IndexShardHealth> Health();
}

/// <summary>
/// The corpus index as clients see it (stateless worker, local to the silo a call reaches): fans out to the shards and merges,
/// so clients never need the shard layout.
/// </summary>
[Alias("lvmae.ICorpusGrain")]
public interface ICorpusGrain : IGrainWithIntegerKey
{
    [Alias("Summary")] Task<CorpusSummary> Summary();
    [Alias("Query")] Task<VideoPage> Query(VideoQuery query);
    [Alias("Get")] Task<VideoIndexEntry?> Get(string videoId);
    [Alias("GetMany")] Task<IReadOnlyList<VideoIndexEntry>> GetMany(IReadOnlyList<string> videoIds);
    [Alias("Health")] Task<IReadOnlyList<IndexShardHealth>> Health();
}

/// <summary>The index's shard function (silos only: clients go through <see cref="ICorpusGrain"/>).</summary>
public sealed class IndexLayout(int shards)
{
    public const int DefaultShards = 16;

    public int Shards { get; } = shards is >= 1 and <= 4096 ? shards : throw new ArgumentOutOfRangeException(nameof(shards), shards, "index shards must be 1..4096");

    /// <summary>Stable across processes (FNV-1a, not string.GetHashCode).</summary>
    public int ShardOf(string videoId)
    {
        uint hash = 2166136261;
        foreach (var c in videoId) hash = (hash ^ c) * 16777619;
        return (int)(hash % (uint)Shards);
    }
}

/// <summary>Paging cursors "shard:id" (opaque to users) and the client-side calls on <see cref="ICorpusGrain"/>.</summary>
public static class CorpusIndex
{
    public static string Cursor(int shard, string afterId) => $"{shard}:{afterId}";

    /// <summary>Parses a cursor; throws <see cref="ArgumentException"/> naming it when it is malformed.</summary>
    public static (int Shard, string? AfterId) ParseCursor(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor)) return (0, null);
        var colon = cursor.IndexOf(':');
        if (colon <= 0 || !int.TryParse(cursor.AsSpan(0, colon), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var shard) || colon == cursor.Length - 1)
            throw new ArgumentException($"malformed cursor '{cursor}': pass the 'next' value of the previous page");
        return (shard, cursor[(colon + 1)..]);
    }

    private static ICorpusGrain Corpus(this IGrainFactory grains) => grains.GetGrain<ICorpusGrain>(0);

    public static Task<CorpusSummary> SummaryAsync(this IGrainFactory grains) => grains.Corpus().Summary();

    public static Task<VideoPage> QueryAsync(this IGrainFactory grains, VideoQuery query) => grains.Corpus().Query(query);

    public static Task<VideoIndexEntry?> IndexEntryAsync(this IGrainFactory grains, string videoId) => grains.Corpus().Get(videoId);

    public static Task<IReadOnlyList<VideoIndexEntry>> IndexEntriesAsync(this IGrainFactory grains, IReadOnlyList<string> videoIds) => grains.Corpus().GetMany(videoIds);

    /// <summary>Every matching entry, page by page (streams: memory stays one page).</summary>
    public static async IAsyncEnumerable<VideoIndexEntry> ListAsync(this IGrainFactory grains, VideoQuery query,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var next = query with { Cursor = null, CountMatches = false };
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var page = await grains.Corpus().Query(next);
            foreach (var item in page.Items) yield return item;
            if (page.Next is null) yield break;
            next = next with { Cursor = page.Next };
        }
    }
}

/// <summary>What an audit compares and whether it repairs (see <see cref="ICorpusAuditGrain"/>).</summary>
[GenerateSerializer, Alias("lvmae.AuditRequest")]
public sealed record AuditRequest
{
    /// <summary>Rewrite index entries from the video states they disagree with, drop entries with no state.</summary>
    [Id(0)] public bool Repair { get; init; }
    /// <summary>Also check each embedded video's data blobs (exist; rows, dimension and content hash agree with its state) and list orphaned blobs.</summary>
    [Id(1)] public bool Blobs { get; init; }
    /// <summary>
    /// Also compare each video's live index entry (what the shards serve: GET /videos, /corpus/summary) with the entry its
    /// shard's persisted log (snapshot + log, replayed) gives: they differ when a shard holds a change storage does not (a
    /// write still failing, or storage lost an append it had acknowledged) or storage holds one the shard does not.
    /// </summary>
    [Id(2)] public bool IndexLog { get; init; }
}

/// <summary>The outcome (or progress) of an audit of the corpus index and data blobs against the video grains' persisted state.</summary>
[GenerateSerializer, Alias("lvmae.AuditReport")]
public sealed record AuditReport
{
    [Id(0)] public AuditRequest Request { get; init; } = new();
    [Id(1)] public DateTimeOffset StartedAt { get; init; }
    [Id(2)] public DateTimeOffset? FinishedAt { get; init; }
    public bool Running => FinishedAt is null && StartedAt != default;
    /// <summary>Video states read (the truth).</summary>
    [Id(3)] public int States { get; init; }
    [Id(4)] public int IndexEntries { get; init; }
    /// <summary>Videos with state but no index entry.</summary>
    [Id(5)] public int Missing { get; init; }
    /// <summary>Index entries that disagree with their video's state.</summary>
    [Id(6)] public int Stale { get; init; }
    /// <summary>Index entries without a video state.</summary>
    [Id(7)] public int Phantom { get; init; }
    [Id(8)] public int Repaired { get; init; }
    /// <summary>Embedded videos whose data blobs are missing or disagree with the state.</summary>
    [Id(9)] public int BlobProblems { get; init; }
    /// <summary>Video folders in the data container with no video state.</summary>
    [Id(10)] public int Orphans { get; init; }
    /// <summary>The first problems found, one line each ("v123: index says Segmented, state says Embedded").</summary>
    [Id(11)] public IReadOnlyList<string> Problems { get; init; } = [];
    [Id(12)] public string? Error { get; init; }
    /// <summary>Videos whose state is not finished (Embedded or Failed).</summary>
    [Id(13)] public int Unfinished { get; init; }
    [Id(14)] public int Failed { get; init; }
    /// <summary>Videos whose live index entry (what the API serves) differs from their shard's persisted log (<see cref="AuditRequest.IndexLog"/>), on two reads 2 s apart.</summary>
    [Id(15)] public int LogDiffers { get; init; }
    /// <summary>Index shards whose persisted log was read and compared (<see cref="AuditRequest.IndexLog"/>).</summary>
    [Id(16)] public int ShardLogsRead { get; init; }

    /// <summary>
    /// Index entries newer than their video's persisted state on two reads 2 s apart (<see cref="AuditRequest.IndexLog"/>):
    /// storage lost a state write it had acknowledged (a video merely moving on during the audit is newer only on the first).
    /// </summary>
    [Id(17)] public int Ahead { get; init; }

    public int Inconsistencies => Missing + Stale + Phantom + BlobProblems + LogDiffers + Ahead;
}

/// <summary>
/// Audits the corpus (key 0): reads every video grain's persisted state and compares the index (and, on request, the data
/// blobs) with it; repairs the index from the states on request. Runs in the background (call <see cref="Report"/> to
/// follow); also runs by itself on a reminder, repairing, so the index cannot drift unnoticed.
/// </summary>
[Alias("lvmae.ICorpusAuditGrain")]
public interface ICorpusAuditGrain : IGrainWithIntegerKey
{
    /// <summary>Starts an audit (or returns the one running).</summary>
    [Alias("Start")] Task<AuditReport> Start(AuditRequest request);
    /// <summary>The running audit's progress, or the last one's outcome (default when none ran).</summary>
    [Alias("Report")] Task<AuditReport> Report();
}
