using LvMae.Contracts;
using LvMae.Grains.Index;

namespace LvMae.Grains.Tests;

/// <summary>Which videos a shard re-checks after an outage, and how an entry compares with its persisted state (issue 28), on their own.</summary>
public sealed class OutageWatchTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch.AddDays(20000);

    [Fact]
    public void Without_an_outage_nothing_is_rechecked()
    {
        var watch = new OutageWatch(TimeSpan.FromSeconds(30));
        watch.Changed(["a", "b"], T0);
        Assert.Empty(watch.Succeeded());
        Assert.False(watch.InOutage);
    }

    [Fact]
    public void Videos_of_failed_writes_changed_during_or_shortly_before_the_outage_are_rechecked_once()
    {
        var watch = new OutageWatch(TimeSpan.FromSeconds(30));
        watch.Changed(["old"], T0);
        watch.Changed(["recent"], T0.AddSeconds(50));
        watch.WriteFailed(["failed"], T0.AddSeconds(60)); // "old" changed 60 s before: outside the look-back
        watch.Changed(["during"], T0.AddSeconds(70));
        Assert.True(watch.InOutage);
        Assert.Equal(["during", "failed", "recent"], watch.Succeeded().Order(StringComparer.Ordinal));
        Assert.False(watch.InOutage);
        Assert.Empty(watch.Succeeded());
    }

    [Fact]
    public void A_shard_is_at_risk_while_a_change_is_within_the_look_back_or_an_outage_is_open()
    {
        var watch = new OutageWatch(TimeSpan.FromSeconds(30));
        Assert.False(watch.AtRisk(T0));
        watch.Changed(["a"], T0);
        Assert.True(watch.AtRisk(T0.AddSeconds(29)));
        Assert.False(watch.AtRisk(T0.AddSeconds(31)));
        watch.WriteFailed([], T0.AddSeconds(40));
        Assert.True(watch.AtRisk(T0.AddSeconds(400)));
        watch.Succeeded();
        Assert.False(watch.AtRisk(T0.AddSeconds(400)));
    }

    [Fact]
    public void A_video_changed_again_counts_from_its_latest_change()
    {
        var watch = new OutageWatch(TimeSpan.FromSeconds(30));
        watch.Changed(["a"], T0);
        watch.Changed(["a"], T0.AddSeconds(50));
        watch.Changed(["b"], T0.AddSeconds(55)); // prunes the first change of "a", not "a"
        watch.WriteFailed([], T0.AddSeconds(60));
        Assert.Equal(["a", "b"], watch.Succeeded().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_recheck_that_storage_interrupts_waits_for_the_next_success()
    {
        var watch = new OutageWatch(TimeSpan.FromSeconds(30));
        watch.WriteFailed(["a"], T0);
        Assert.Equal(["a"], watch.Succeeded());
        watch.RecheckFailed(["a"], T0.AddSeconds(5));
        Assert.Equal(["a"], watch.Succeeded());
    }

    private static VideoState State(VideoStage stage, long version) => new() { Stage = stage, Version = version, Encoder = "builtin" };

    [Fact]
    public void Entries_compare_with_their_persisted_state()
    {
        var segmented = State(VideoStage.Segmented, 3);
        var same = VideoIndexEntries.From("v", segmented);
        var newer = VideoIndexEntries.From("v", State(VideoStage.Embedded, 4));
        var older = VideoIndexEntries.From("v", State(VideoStage.Probed, 2));
        Assert.Equal(IndexVerdict.Agrees, IndexChecks.Compare("v", segmented, same).Verdict);
        Assert.Equal(IndexVerdict.Missing, IndexChecks.Compare("v", segmented, null).Verdict);
        Assert.Equal(IndexVerdict.Stale, IndexChecks.Compare("v", segmented, older).Verdict);
        Assert.Equal(IndexVerdict.Ahead, IndexChecks.Compare("v", segmented, newer).Verdict); // storage lost the newer state
        Assert.Equal(IndexVerdict.Phantom, IndexChecks.Compare("v", null, same).Verdict);
        Assert.Equal(IndexVerdict.Agrees, IndexChecks.Compare("v", null, null).Verdict);
        Assert.True(same.SameAs(IndexChecks.Compare("v", segmented, newer).Expected!)); // the repair: what the state gives
    }
}
