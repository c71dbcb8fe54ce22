using LvMae.Contracts;
using Microsoft.Extensions.Logging;

namespace LvMae.Grains.Index;

/// <summary>
/// One re-check of an index shard after a storage outage (<see cref="OutageWatch"/> says which videos): each video's entry
/// against its persisted state (<see cref="IndexChecks.Compare"/>). An entry that disagrees is replaced by the state's in
/// <paramref name="index"/> (a removal line first in <paramref name="unwritten"/>, so replaying the log cannot bring a
/// newer-versioned lost entry back), told to the dispatch (<paramref name="dispatch"/>: id, finished) and listed in
/// <see cref="Repaired"/> (its video's activation should read storage again); an entry that agrees is queued to be written
/// again, in case storage lost its append too. Writing, the dispatch and the videos are the shard's (<see cref="CorpusIndexGrain"/>).
/// </summary>
public sealed class OutageRecheck(int shard, IndexShard index, List<ShardLog.Change> unwritten, Action<string, bool> dispatch, ILogger logger)
{
    /// <summary>Videos read per round (their states are read in parallel).</summary>
    public const int Chunk = 32;

    private readonly HashSet<string> _done = new(StringComparer.Ordinal);

    /// <summary>Videos whose entries were repaired, in order.</summary>
    public List<string> Repaired { get; } = [];

    /// <summary>Of <paramref name="ids"/>, those not compared yet (a failed read stops the re-check; the rest waits).</summary>
    public IEnumerable<string> NotDone(IEnumerable<string> ids) => ids.Where(id => !_done.Contains(id));

    /// <summary>Reads the states of <paramref name="ids"/> (<see cref="Chunk"/> at a time) and compares each; a read's failure ends it.</summary>
    public async Task CompareAsync(IReadOnlyCollection<string> ids, Func<string, Task<VideoState?>> readState)
    {
        foreach (var chunk in ids.Chunk(Chunk))
        {
            var reads = await Task.WhenAll(chunk.Select(async id => (Id: id, Before: index.Get(id), State: await readState(id))));
            foreach (var (id, before, stored) in reads) Compare(id, before, stored);
        }
    }

    /// <summary>
    /// One video: <paramref name="before"/> is the entry the shard held when its state was read, <paramref name="stored"/> that
    /// state. Null when the entry changed meanwhile (a live video reports itself), else the verdict acted on.
    /// </summary>
    public IndexVerdict? Compare(string id, VideoIndexEntry? before, VideoState? stored)
    {
        _done.Add(id);
        var current = index.Get(id);
        if (!ReferenceEquals(before, current)) return null; // it changed while we read: a live video reports itself
        var (verdict, expected) = IndexChecks.Compare(id, stored, current);
        switch (verdict)
        {
            case IndexVerdict.Agrees when current is not null:
                unwritten.Add(new ShardLog.Change(current, null));
                return verdict;
            case IndexVerdict.Agrees:
                return verdict;
            case IndexVerdict.Phantom:
                index.Remove(id);
                unwritten.Add(new ShardLog.Change(null, id));
                dispatch(id, true);
                break;
            default: // Missing, Stale, Ahead
                index.Remove(id);
                index.Apply(expected!);
                unwritten.Add(new ShardLog.Change(null, id));
                unwritten.Add(new ShardLog.Change(expected, null));
                dispatch(id, IndexShard.IsFinished(expected!.Stage));
                break;
        }
        logger.LogWarning("index shard {Shard}: after the outage, video {Id}: index had {Indexed} (version {IndexedVersion}), storage holds {Stored} (version {StoredVersion}): {Verdict}, repaired",
            shard, id, current?.Stage.ToString() ?? "nothing", current?.Version, stored?.Stage.ToString() ?? "nothing", stored?.Version, verdict);
        Repaired.Add(id);
        return verdict;
    }

    /// <summary>
    /// The videos whose live entry (<paramref name="live"/>) differs from a log just read back (<paramref name="logged"/>):
    /// live entries the log lacks or holds otherwise, then logged entries the shard no longer holds.
    /// </summary>
    public static List<string> DifferFromLog(IndexShard live, IndexShard logged) =>
        live.Entries.Where(e => logged.Get(e.Id) is not { } l || !l.SameAs(e)).Select(e => e.Id)
            .Concat(logged.Entries.Where(e => live.Get(e.Id) is null).Select(e => e.Id))
            .ToList();
}
