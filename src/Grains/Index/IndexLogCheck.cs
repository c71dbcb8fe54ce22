using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains.Index;

/// <summary>
/// The audit's index-log check (<see cref="AuditRequest.IndexLog"/>, for <see cref="CorpusAuditGrain"/>): the live index (each
/// shard's entries as the API serves them) against the persisted log (each shard's snapshot + log read from storage and replayed
/// as the shard replays it on activation), and entries found ahead of their state read again. Runs off the grain scheduler
/// (hence the silo's <see cref="IGrainFactory"/>); reports into <see cref="AuditProgress"/>; repairs nothing (docs/RELIABILITY.md).
/// </summary>
public sealed class IndexLogCheck(IGrainFactory grains, BlobStore data, GrainStateBlobs states, IndexLayout layout)
{
    /// <summary>How long the live-vs-log comparison waits before reading a shard's differing videos again (a change the shard applied
    /// is written to its log a moment later; one still differing after this is reported).</summary>
    public static readonly TimeSpan LogRecheckDelay = TimeSpan.FromSeconds(2);

    /// <summary>Entries that were newer than their state when it was read: read both again; still newer means storage lost the state's write.</summary>
    public async Task RecheckAheadAsync(AuditProgress p)
    {
        var ids = p.AheadIds();
        if (ids.Count == 0) return;
        await Task.Delay(LogRecheckDelay);
        var live = (await grains.GetGrain<ICorpusGrain>(0).GetMany(ids)).ToDictionary(e => e.Id, StringComparer.Ordinal);
        foreach (var id in ids)
        {
            var s = await states.TryReadVideoAsync(id);
            var actual = live.GetValueOrDefault(id);
            if (s is null || IndexChecks.Compare(id, s, actual).Verdict != IndexVerdict.Ahead) continue;
            Interlocked.Increment(ref p.Ahead);
            p.Problem($"{id}: index says {actual!.Stage} (version {actual.Version}), newer than the state in storage: {s.Stage} (version {s.Version}) (storage lost a state write?)");
        }
    }

    /// <summary>
    /// Per shard and video, the live index against the persisted log; the persisted state is named in each problem line. Read
    /// live first, then storage; a difference is re-read once after <see cref="LogRecheckDelay"/> and counted only when it is
    /// still there (a write in flight lands meanwhile).
    /// </summary>
    public async Task CompareLogsAsync(AuditProgress p)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, layout.Shards), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (shard, _) =>
        {
            var first = await ShardDifferencesAsync(shard, null);
            Interlocked.Increment(ref p.ShardLogsRead);
            if (first.Count == 0) return;
            await Task.Delay(LogRecheckDelay);
            var second = await ShardDifferencesAsync(shard, first.Keys.ToList());
            foreach (var (id, (live, logged)) in second.OrderBy(d => d.Key, StringComparer.Ordinal))
            {
                Interlocked.Increment(ref p.LogDiffers);
                var state = await states.TryReadVideoAsync(id);
                p.Problem(DiffersLine(id, live, logged, state, shard));
            }
        });
    }

    /// <summary>The problem line of a video whose live entry differs from its logged one.</summary>
    public static string DiffersLine(string id, VideoIndexEntry? live, VideoIndexEntry? logged, VideoState? state, int shard)
    {
        static string Shown(VideoIndexEntry? e) => e is null ? "no entry" : $"{e.Stage} (version {e.Version})";
        return $"{id}: the live index (what the API serves) has {Shown(live)}, the index log in storage has {Shown(logged)}, " +
               $"the video state says {(state is null ? "nothing (no state)" : $"{state.Stage} (version {state.Version})")} (shard {shard})";
    }

    /// <summary>One shard's videos (all, or only <paramref name="only"/>) whose live entry differs from its persisted log's.</summary>
    private async Task<Dictionary<string, (VideoIndexEntry? Live, VideoIndexEntry? Logged)>> ShardDifferencesAsync(int shard, IReadOnlyList<string>? only)
    {
        var index = grains.GetGrain<ICorpusIndexGrain>(shard);
        var live = new Dictionary<string, VideoIndexEntry>(StringComparer.Ordinal);
        if (only is not null)
            foreach (var e in await index.GetMany(only)) live[e.Id] = e;
        else
        {
            string? after = null;
            while (true)
            {
                var page = await index.Query(new VideoQuery { Limit = 5000, CountMatches = false }, after);
                foreach (var e in page.Items) live[e.Id] = e;
                if (!page.More || page.Items.Count == 0) break;
                after = page.Items[^1].Id;
            }
        }
        var replayed = new IndexShard();
        replayed.Replay(await new ShardLog(data, shard).LoadAsync());
        return Differences(live, replayed, only);
    }

    /// <summary>
    /// Videos (<paramref name="only"/> these, else every one either side holds) whose live entry and logged entry differ: one
    /// missing, unlike, or of another version. Pure.
    /// </summary>
    public static Dictionary<string, (VideoIndexEntry? Live, VideoIndexEntry? Logged)> Differences(
        IReadOnlyDictionary<string, VideoIndexEntry> live, IndexShard replayed, IReadOnlyList<string>? only)
    {
        var differences = new Dictionary<string, (VideoIndexEntry?, VideoIndexEntry?)>(StringComparer.Ordinal);
        var ids = only ?? live.Keys.Concat(replayed.Entries.Select(e => e.Id)).Distinct(StringComparer.Ordinal).ToList();
        foreach (var id in ids)
        {
            var (a, b) = (live.GetValueOrDefault(id), replayed.Get(id));
            if (a is null && b is null) continue;
            if (a is null || b is null || !a.SameAs(b) || a.Version != b.Version) differences[id] = (a, b);
        }
        return differences;
    }
}
