using LvMae.Contracts;

namespace LvMae.Grains.Index;

/// <summary>How a video's index entry compares with its persisted state (the truth).</summary>
public enum IndexVerdict
{
    /// <summary>The entry is what the state gives (or neither exists).</summary>
    Agrees,
    /// <summary>A state, no entry.</summary>
    Missing,
    /// <summary>An entry older than (or as old as, but unlike) the state.</summary>
    Stale,
    /// <summary>
    /// An entry newer than the state. Normal while a video moves on during a long audit; after a storage crash it means
    /// storage lost writes it had acknowledged (the index only hears of a state after it was saved).
    /// </summary>
    Ahead,
    /// <summary>An entry, no state.</summary>
    Phantom,
}

/// <summary>The comparison the audit and the shards' post-outage re-check share: one video's entry against its persisted state.</summary>
public static class IndexChecks
{
    /// <summary>The verdict and the entry the state gives (null without a state).</summary>
    public static (IndexVerdict Verdict, VideoIndexEntry? Expected) Compare(string id, VideoState? state, VideoIndexEntry? actual)
    {
        if (state is null) return (actual is null ? IndexVerdict.Agrees : IndexVerdict.Phantom, null);
        var expected = VideoIndexEntries.From(id, state);
        if (actual is null) return (IndexVerdict.Missing, expected);
        if (expected.SameAs(actual)) return (IndexVerdict.Agrees, expected);
        return (actual.Version <= expected.Version ? IndexVerdict.Stale : IndexVerdict.Ahead, expected);
    }
}

/// <summary>
/// Which videos an index shard must re-check after a storage outage: those in writes that failed during it, those changed
/// while it lasted, and those changed shortly before it was noticed (a crashing storage can lose writes it acknowledged last).
/// Pure bookkeeping: the shard reports writes and changes, and gets the ids to re-check once a write succeeds again.
/// </summary>
public sealed class OutageWatch(TimeSpan lookBack)
{
    // Changes within the look-back, oldest first, and each video's latest: pruning costs O(1) per change, however busy the shard.
    private readonly Queue<(string Id, DateTimeOffset At)> _recentOrder = new();
    private readonly Dictionary<string, DateTimeOffset> _recent = new(StringComparer.Ordinal);
    private readonly HashSet<string> _touched = new(StringComparer.Ordinal);

    /// <summary>Storage failed a write and has not succeeded one since.</summary>
    public bool InOutage { get; private set; }

    /// <summary>Videos whose entries changed (applied to the shard, to be written).</summary>
    public void Changed(IEnumerable<string> ids, DateTimeOffset now)
    {
        foreach (var id in ids)
        {
            if (InOutage) _touched.Add(id);
            else
            {
                _recent[id] = now;
                _recentOrder.Enqueue((id, now));
            }
        }
        Forget(now);
    }

    /// <summary>A write failed because storage is unavailable: <paramref name="ids"/> were in it.</summary>
    public void WriteFailed(IEnumerable<string> ids, DateTimeOffset now)
    {
        if (!InOutage)
        {
            InOutage = true;
            Forget(now);
            _touched.UnionWith(_recent.Keys);
            _recent.Clear();
            _recentOrder.Clear();
        }
        _touched.UnionWith(ids);
    }

    /// <summary>A write (or a read) succeeded: after an outage, the videos to re-check now (else none).</summary>
    public IReadOnlyCollection<string> Succeeded()
    {
        if (!InOutage) return [];
        InOutage = false;
        var ids = _touched.ToList();
        _touched.Clear();
        return ids;
    }

    /// <summary>
    /// Whether a storage crash now could still lose one of this shard's changes (one within the look-back) or an outage is
    /// open: while so, the shard checks storage even when it has nothing to write.
    /// </summary>
    public bool AtRisk(DateTimeOffset now)
    {
        Forget(now);
        return InOutage || _recent.Count > 0;
    }

    /// <summary>A re-check could not finish (storage gone again): its videos wait for the next success.</summary>
    public void RecheckFailed(IEnumerable<string> ids, DateTimeOffset now) => WriteFailed(ids, now);

    private void Forget(DateTimeOffset now)
    {
        while (_recentOrder.TryPeek(out var oldest) && now - oldest.At > lookBack)
        {
            _recentOrder.Dequeue();
            if (_recent.TryGetValue(oldest.Id, out var latest) && latest == oldest.At) _recent.Remove(oldest.Id);
        }
    }
}
