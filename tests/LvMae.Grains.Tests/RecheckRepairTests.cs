using LvMae.Contracts;
using LvMae.Grains.Index;

namespace LvMae.Grains.Tests;

/// <summary>
/// An index shard's re-check after a storage outage without a silo (<see cref="OutageRecheck"/>): each verdict's repair of the
/// shard, the log lines queued (a removal before a replacement), the dispatch told, the videos told to re-read; an entry that
/// changed while its state was read left alone; a failed read leaving the rest for later. And <see cref="OutageRecheck.DifferFromLog"/>.
/// </summary>
public sealed class RecheckRepairTests
{
    private readonly IndexShard _index = new();
    private readonly List<ShardLog.Change> _unwritten = [];
    private readonly List<(string Id, bool Finished)> _dispatched = [];
    private readonly RecordedLog _log = new();

    private OutageRecheck Recheck() => new(7, _index, _unwritten, (id, finished) => _dispatched.Add((id, finished)), _log);

    private static VideoState State(VideoStage stage, long version) => new()
    {
        Stage = stage, Encoder = "builtin", Labels = ["a"], Version = version, RegisteredAt = DateTimeOffset.UnixEpoch.AddSeconds(version),
    };

    private static VideoIndexEntry EntryOf(string id, VideoState s) => VideoIndexEntries.From(id, s);

    [Fact]
    public void A_stale_entry_is_replaced_by_the_states_behind_a_removal_line_and_its_video_rereads()
    {
        var old = EntryOf("v1", State(VideoStage.Registered, 1));
        _index.Apply(old);
        var stored = State(VideoStage.Embedded, 3);
        var recheck = Recheck();

        Assert.Equal(IndexVerdict.Stale, recheck.Compare("v1", old, stored));

        Assert.True(EntryOf("v1", stored).SameAs(_index.Get("v1")));
        Assert.Equal(2, _unwritten.Count);
        Assert.Equal(("v1", (VideoIndexEntry?)null), (_unwritten[0].Removed, _unwritten[0].Entry));
        Assert.True(EntryOf("v1", stored).SameAs(_unwritten[1].Entry));
        Assert.Equal([("v1", true)], _dispatched);
        Assert.Equal(["v1"], recheck.Repaired);
        var line = Assert.Single(_log.Lines);
        Assert.Equal("Warning: index shard 7: after the outage, video v1: index had Registered (version 1), storage holds Embedded (version 3): Stale, repaired", line);
    }

    [Fact]
    public void An_entry_ahead_of_its_state_goes_back_to_the_state_and_an_unfinished_video_is_dispatched_again()
    {
        var ahead = EntryOf("v1", State(VideoStage.Embedded, 5));
        _index.Apply(ahead);
        var stored = State(VideoStage.Registered, 2); // storage lost the state's later writes

        Assert.Equal(IndexVerdict.Ahead, Recheck().Compare("v1", ahead, stored));

        Assert.Equal(2, _index.Get("v1")!.Version);
        Assert.Equal(VideoStage.Registered, _index.Get("v1")!.Stage);
        Assert.Equal(1, _index.QueueLength); // unfinished again: queued for work
        Assert.Equal("v1", _unwritten[0].Removed); // so replaying the log cannot keep the newer-versioned entry
        Assert.Equal(2, _unwritten[1].Entry!.Version);
        Assert.Equal([("v1", false)], _dispatched);
    }

    [Fact]
    public void A_missing_entry_is_added_from_the_state()
    {
        var stored = State(VideoStage.Failed, 4);
        var recheck = Recheck();

        Assert.Equal(IndexVerdict.Missing, recheck.Compare("v1", null, stored));

        Assert.True(EntryOf("v1", stored).SameAs(_index.Get("v1")));
        Assert.Equal(["v1", null], _unwritten.Select(c => c.Removed));
        Assert.Equal([("v1", true)], _dispatched);
        Assert.Equal(["v1"], recheck.Repaired);
        Assert.Contains("index had nothing (version (null)), storage holds Failed (version 4): Missing, repaired", Assert.Single(_log.Lines));
    }

    [Fact]
    public void An_entry_without_a_state_is_removed()
    {
        var phantom = EntryOf("v1", State(VideoStage.Registered, 1));
        _index.Apply(phantom);
        var recheck = Recheck();

        Assert.Equal(IndexVerdict.Phantom, recheck.Compare("v1", phantom, null));

        Assert.Null(_index.Get("v1"));
        Assert.Equal(0, _index.QueueLength);
        var change = Assert.Single(_unwritten);
        Assert.Equal("v1", change.Removed);
        Assert.Equal([("v1", true)], _dispatched);
        Assert.Equal(["v1"], recheck.Repaired);
        Assert.Contains("storage holds nothing (version (null)): Phantom, repaired", Assert.Single(_log.Lines));
    }

    [Fact]
    public void An_entry_that_agrees_is_written_again_and_nothing_else_happens()
    {
        var stored = State(VideoStage.Embedded, 2);
        var entry = EntryOf("v1", stored);
        _index.Apply(entry);
        var recheck = Recheck();

        Assert.Equal(IndexVerdict.Agrees, recheck.Compare("v1", entry, stored));
        Assert.Equal(IndexVerdict.Agrees, recheck.Compare("v2", null, null)); // neither entry nor state

        Assert.Same(entry, Assert.Single(_unwritten).Entry);
        Assert.Same(entry, _index.Get("v1"));
        Assert.Empty(_dispatched);
        Assert.Empty(recheck.Repaired);
        Assert.Empty(_log.Lines);
    }

    [Fact]
    public void An_entry_that_changed_while_its_state_was_read_is_left_alone_but_counts_as_done()
    {
        var before = EntryOf("v1", State(VideoStage.Registered, 1));
        _index.Apply(before);
        var live = EntryOf("v1", State(VideoStage.Embedded, 2));
        _index.Apply(live); // a live video reported itself meanwhile
        var recheck = Recheck();

        Assert.Null(recheck.Compare("v1", before, null));

        Assert.Same(live, _index.Get("v1"));
        Assert.Empty(_unwritten);
        Assert.Empty(_dispatched);
        Assert.Equal(["v2"], recheck.NotDone(["v1", "v2"]));
    }

    [Fact]
    public async Task A_state_read_finishing_after_a_live_change_does_not_overwrite_it()
    {
        var before = EntryOf("v1", State(VideoStage.Registered, 1));
        _index.Apply(before);
        var read = new TaskCompletionSource<VideoState?>();
        var recheck = Recheck();

        var comparing = recheck.CompareAsync(["v1"], _ => read.Task);
        var live = EntryOf("v1", State(VideoStage.Embedded, 2));
        _index.Apply(live);
        read.SetResult(State(VideoStage.Failed, 3)); // would be Stale against the entry read before
        await comparing;

        Assert.Same(live, _index.Get("v1"));
        Assert.Empty(_unwritten);
        Assert.Empty(recheck.Repaired);
    }

    [Fact]
    public async Task A_failed_read_ends_the_recheck_after_the_rounds_it_finished_and_leaves_the_rest_not_done()
    {
        var ids = Enumerable.Range(0, OutageRecheck.Chunk + 8).Select(i => $"v{i:D2}").ToList();
        var failing = ids[OutageRecheck.Chunk + 3];
        var recheck = Recheck();

        var e = await Assert.ThrowsAsync<IOException>(() => recheck.CompareAsync(ids,
            id => id == failing ? Task.FromException<VideoState?>(new IOException("storage is out")) : Task.FromResult<VideoState?>(State(VideoStage.Registered, 1))));

        Assert.Equal("storage is out", e.Message);
        Assert.Equal(ids.Take(OutageRecheck.Chunk), recheck.Repaired); // the first round: missing entries added
        Assert.Equal(OutageRecheck.Chunk, _index.Count);
        Assert.Equal(ids.Skip(OutageRecheck.Chunk), recheck.NotDone(ids)); // the whole second round waits
    }

    [Fact]
    public void Differ_from_log_lists_live_entries_the_log_lacks_or_holds_otherwise_and_logged_entries_no_longer_live()
    {
        var live = new IndexShard();
        var logged = new IndexShard();
        var same = EntryOf("same", State(VideoStage.Embedded, 2));
        live.Apply(same);
        logged.Apply(EntryOf("same", State(VideoStage.Embedded, 2)));
        live.Apply(EntryOf("changed", State(VideoStage.Embedded, 3)));
        logged.Apply(EntryOf("changed", State(VideoStage.Registered, 1)));
        live.Apply(EntryOf("unlogged", State(VideoStage.Registered, 1)));
        logged.Apply(EntryOf("gone", State(VideoStage.Registered, 1)));

        var differ = OutageRecheck.DifferFromLog(live, logged);

        Assert.Equal(["changed", "gone", "unlogged"], differ.Order(StringComparer.Ordinal));
        Assert.Equal("gone", differ[^1]); // live ones first
    }

    [Fact]
    public void Replay_applies_a_logs_changes_in_order()
    {
        var shard = new IndexShard();
        var v2 = EntryOf("v1", State(VideoStage.Embedded, 2));
        shard.Replay([new(EntryOf("v1", State(VideoStage.Registered, 1)), null), new(EntryOf("v2", State(VideoStage.Registered, 1)), null), new(null, "v2"), new(v2, null)]);

        Assert.Equal(1, shard.Count);
        Assert.True(v2.SameAs(shard.Get("v1")));
    }
}
