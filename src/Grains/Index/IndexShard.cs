using LvMae.Contracts;

namespace LvMae.Grains.Index;

/// <summary>
/// The in-memory content of one index shard, with everything a query needs maintained on each change: counts for the
/// summary, an id-ordered set per stage, encoder and label, and the unfinished videos in the order they became unfinished
/// (the work queue). Every operation costs O(log n) per set an entry belongs to; no query scans the shard.
/// </summary>
public sealed class IndexShard
{
    private readonly Dictionary<string, VideoIndexEntry> _entries = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _all = new(StringComparer.Ordinal);
    private readonly Dictionary<VideoStage, SortedSet<string>> _byStage = [];
    private readonly Dictionary<string, SortedSet<string>> _byEncoder = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedSet<string>> _byLabel = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _unfinished = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _queue = new();
    private readonly Dictionary<string, LinkedListNode<string>> _queued = new(StringComparer.Ordinal);
    private readonly Counts _counts = new();

    public int Count => _entries.Count;
    /// <summary>Unfinished videos (not Embedded or Failed), oldest first.</summary>
    public IEnumerable<string> Queue => _queue;
    public int QueueLength => _queue.Count;
    public IEnumerable<VideoIndexEntry> Entries => _entries.Values;

    public VideoIndexEntry? Get(string id) => _entries.GetValueOrDefault(id);

    public static bool IsFinished(VideoStage stage) => stage is VideoStage.Embedded or VideoStage.Failed;

    /// <summary>Stores <paramref name="entry"/> unless the shard holds a newer version or the same content; true when it changed.</summary>
    public bool Apply(VideoIndexEntry entry)
    {
        if (_entries.TryGetValue(entry.Id, out var old))
        {
            if (old.Version > entry.Version || entry.SameAs(old)) return false;
            Unindex(old);
        }
        _entries[entry.Id] = entry;
        Index(entry);
        // A video keeps its queue place through its own transitions; it joins the back when it (re)starts.
        if (IsFinished(entry.Stage)) Dequeue(entry.Id);
        else if (!_queued.ContainsKey(entry.Id)) _queued[entry.Id] = _queue.AddLast(entry.Id);
        return true;
    }

    private void Dequeue(string id)
    {
        if (_queued.Remove(id, out var node)) _queue.Remove(node);
    }

    /// <summary>Removes an entry (audit repair: the video has no persisted state); true when it was there.</summary>
    public bool Remove(string id)
    {
        if (!_entries.Remove(id, out var old)) return false;
        Unindex(old);
        Dequeue(id);
        return true;
    }

    /// <summary>Applies a log's changes in order, as a shard does on activation (entries upserted, removals removed).</summary>
    public void Replay(IEnumerable<ShardLog.Change> changes)
    {
        foreach (var change in changes)
            if (change.Entry is { } e) Apply(e); else Remove(change.Removed!);
    }

    private void Index(VideoIndexEntry e)
    {
        _all.Add(e.Id);
        SetOf(_byStage, e.Stage).Add(e.Id);
        foreach (var encoder in Encoders(e)) SetOf(_byEncoder, encoder).Add(e.Id);
        foreach (var label in e.Labels.Distinct(StringComparer.Ordinal)) SetOf(_byLabel, label).Add(e.Id);
        if (!IsFinished(e.Stage)) _unfinished.Add(e.Id);
        _counts.Add(e, +1);
    }

    private void Unindex(VideoIndexEntry e)
    {
        _all.Remove(e.Id);
        Drop(_byStage, e.Stage, e.Id);
        foreach (var encoder in Encoders(e)) Drop(_byEncoder, encoder, e.Id);
        foreach (var label in e.Labels.Distinct(StringComparer.Ordinal)) Drop(_byLabel, label, e.Id);
        _unfinished.Remove(e.Id);
        _counts.Add(e, -1);
    }

    private static IEnumerable<string> Encoders(VideoIndexEntry e) =>
        (e.Encoder is null ? e.EmbeddedEncoders : e.EmbeddedEncoders.Append(e.Encoder)).Distinct(StringComparer.Ordinal);

    private static SortedSet<string> SetOf<TKey>(Dictionary<TKey, SortedSet<string>> sets, TKey key) where TKey : notnull
    {
        if (!sets.TryGetValue(key, out var set)) sets[key] = set = new SortedSet<string>(StringComparer.Ordinal);
        return set;
    }

    private static void Drop<TKey>(Dictionary<TKey, SortedSet<string>> sets, TKey key, string id) where TKey : notnull
    {
        if (sets.TryGetValue(key, out var set) && set.Remove(id) && set.Count == 0) sets.Remove(key);
    }

    /// <summary>Counts over the shard; labels: the <paramref name="maxLabels"/> most frequent (a column with a value per video would
    /// otherwise make the summary as large as the corpus), the rest counted in <see cref="CorpusSummary.OtherLabels"/>.</summary>
    public CorpusSummary Summary(int maxLabels = CorpusSummary.MaxLabels) => _counts.ToSummary(_entries.Count, maxLabels);

    /// <summary>Up to <c>query.Limit</c> matching entries with id greater than <paramref name="afterId"/>, in id order.</summary>
    public ShardPage Query(VideoQuery query, string? afterId)
    {
        var candidates = new List<SortedSet<string>>();
        if (query.Stage is { } stage) candidates.Add(_byStage.GetValueOrDefault(stage) ?? Empty);
        if (query.Encoder is { } encoder) candidates.Add(_byEncoder.GetValueOrDefault(encoder) ?? Empty);
        if (query.Label is { } label) candidates.Add(_byLabel.GetValueOrDefault(label) ?? Empty);
        if (query.StaleBefore is not null) candidates.Add(_unfinished);
        // Walk the smallest set; check the other filters on each entry. One filter: the count is the set's size.
        var walk = candidates.Count == 0 ? _all : candidates.MinBy(s => s.Count)!;
        var filters = candidates.Count + (query.StaleBefore is null ? 0 : 1);
        bool Matches(VideoIndexEntry e) => filters <= 1 || Filter(e, query);
        bool Match(VideoIndexEntry e) => query.StaleBefore is { } before ? e.UpdatedAt < before && Matches(e) : Matches(e);

        var limit = Math.Max(0, query.Limit);
        var items = new List<VideoIndexEntry>(Math.Min(limit, 256));
        var more = false;
        foreach (var id in Range(walk, afterId, query.IdPrefix))
        {
            var e = _entries[id];
            if (!Match(e)) continue;
            if (items.Count == limit) { more = true; break; }
            items.Add(e);
        }
        var matching = !query.CountMatches ? -1
            : query.IdPrefix is { } prefix ? Range(walk, null, prefix).Count(id => Match(_entries[id]))
            : filters <= 1 && query.StaleBefore is null ? walk.Count
            : walk.Count(id => Match(_entries[id]));
        return new ShardPage { Items = items, Matching = matching, More = more };
    }

    private static readonly SortedSet<string> Empty = new(StringComparer.Ordinal);

    /// <summary>The ids of <paramref name="set"/> after <paramref name="afterId"/> that start with <paramref name="prefix"/>:
    /// a view of the set from the larger of the two bounds to the prefix's last possible id (O(log n) to find, then the range only).</summary>
    private static IEnumerable<string> Range(SortedSet<string> set, string? afterId, string? prefix)
    {
        if (prefix is null) return After(set, afterId);
        if (set.Count == 0) return [];
        var lower = afterId is not null && string.CompareOrdinal(afterId, prefix) > 0 ? afterId : prefix;
        var upper = prefix + char.MaxValue;
        if (string.CompareOrdinal(lower, upper) > 0 || string.CompareOrdinal(lower, set.Max) > 0 || string.CompareOrdinal(upper, set.Min) < 0) return [];
        return set.GetViewBetween(lower, upper)
            .Where(id => afterId is null || string.CompareOrdinal(id, afterId) > 0)
            .TakeWhile(id => id.StartsWith(prefix, StringComparison.Ordinal));
    }

    private static IEnumerable<string> After(SortedSet<string> set, string? afterId)
    {
        if (afterId is null || set.Count == 0) return set;
        if (string.CompareOrdinal(afterId, set.Max) >= 0) return [];
        return set.GetViewBetween(afterId, set.Max!).Where(id => !string.Equals(id, afterId, StringComparison.Ordinal));
    }

    private static bool Filter(VideoIndexEntry e, VideoQuery q) =>
        (q.Stage is null || e.Stage == q.Stage) &&
        (q.Encoder is null || e.Encoder == q.Encoder || e.EmbeddedEncoders.Contains(q.Encoder)) &&
        (q.Label is null || e.Labels.Contains(q.Label)) &&
        (q.StaleBefore is null || !IsFinished(e.Stage)) &&
        (q.IdPrefix is null || e.Id.StartsWith(q.IdPrefix, StringComparison.Ordinal));

    /// <summary>Summary counters, updated by +1/-1 per entry so the summary never needs a pass over the shard.</summary>
    private sealed class Counts
    {
        private readonly Dictionary<VideoStage, int> _byStage = [];
        private readonly Dictionary<string, int> _byEncoder = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _byLabel = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);
        private long _segments;

        public void Add(VideoIndexEntry e, int sign)
        {
            Bump(_byStage, e.Stage, sign);
            foreach (var encoder in e.EmbeddedEncoders.Distinct(StringComparer.Ordinal)) Bump(_byEncoder, encoder, sign);
            foreach (var label in e.Labels.Distinct(StringComparer.Ordinal)) Bump(_byLabel, label, sign);
            if (e.Stage == VideoStage.Failed) Bump(_failures, e.FailureKind ?? "Unknown", sign);
            if (e.Stage == VideoStage.Embedded) _segments += sign * (long)e.SegmentCount;
        }

        private static void Bump<TKey>(Dictionary<TKey, int> counts, TKey key, int sign) where TKey : notnull
        {
            var value = counts.GetValueOrDefault(key) + sign;
            if (value == 0) counts.Remove(key); else counts[key] = value;
        }

        public CorpusSummary ToSummary(int total, int maxLabels)
        {
            var labels = _byLabel.Count <= maxLabels
                ? new Dictionary<string, int>(_byLabel, StringComparer.Ordinal)
                : _byLabel.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(maxLabels)
                    .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            return new CorpusSummary
            {
                Total = total,
                ByStage = new Dictionary<VideoStage, int>(_byStage),
                ByEncoder = new Dictionary<string, int>(_byEncoder, StringComparer.Ordinal),
                ByLabel = labels,
                OtherLabels = _byLabel.Count - labels.Count,
                FailuresByKind = new Dictionary<string, int>(_failures, StringComparer.Ordinal),
                Segments = _segments,
            };
        }
    }
}
