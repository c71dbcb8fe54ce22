using LvMae.Contracts;
using LvMae.Grains.Index;

namespace LvMae.Grains.Tests;

/// <summary>The in-memory shard: maintained counts and sets agree with a brute-force recomputation through any sequence of changes.</summary>
public sealed class IndexShardTests
{
    private static VideoIndexEntry Entry(string id, VideoStage stage, long version, params string[] labels) => new()
    {
        Id = id, Stage = stage, Version = version, Encoder = "builtin", Labels = labels,
        EmbeddedEncoders = stage == VideoStage.Embedded ? ["builtin"] : [],
        FailureKind = stage == VideoStage.Failed ? "NotMedia" : null, SegmentCount = stage == VideoStage.Embedded ? 3 : 0,
        UpdatedAt = DateTimeOffset.UnixEpoch.AddSeconds(version),
    };

    [Fact]
    public void Id_prefix_pages_a_range_of_the_id_order_alone_or_with_filters_and_counts_its_matches()
    {
        var shard = new IndexShard();
        var ids = Enumerable.Range(0, 300).Select(i => $"v{i:x3}").ToList();
        for (var i = 0; i < ids.Count; i++) shard.Apply(Entry(ids[i], i % 3 == 0 ? VideoStage.Failed : VideoStage.Embedded, 1, $"class={i % 2}"));
        foreach (var (prefix, stage, label) in new (string, VideoStage?, string?)[] { ("v0", null, null), ("v01", VideoStage.Failed, null), ("v1", null, "class=1"), ("v12", VideoStage.Embedded, "class=0"), ("w", null, null), ("v", null, null), ("v12b", null, null) })
        {
            var expected = ids.Where((id, i) => id.StartsWith(prefix, StringComparison.Ordinal) && (stage is null || (i % 3 == 0 ? VideoStage.Failed : VideoStage.Embedded) == stage) && (label is null || $"class={i % 2}" == label))
                .Order(StringComparer.Ordinal).ToList();
            var seen = new List<string>();
            string? after = null;
            while (true)
            {
                var page = shard.Query(new VideoQuery { IdPrefix = prefix, Stage = stage, Label = label, Limit = 7 }, after);
                Assert.Equal(expected.Count, page.Matching);
                seen.AddRange(page.Items.Select(e => e.Id));
                if (!page.More) break;
                after = page.Items[^1].Id;
            }
            Assert.Equal(expected, seen);
        }
    }

    [Fact]
    public void Random_changes_keep_counts_sets_and_queue_equal_to_a_recomputation()
    {
        var rng = new Random(3);
        var shard = new IndexShard();
        var truth = new Dictionary<string, VideoIndexEntry>();
        for (var step = 0; step < 5000; step++)
        {
            var id = $"v{rng.Next(400):D4}";
            if (rng.Next(20) == 0)
            {
                Assert.Equal(truth.Remove(id), shard.Remove(id));
                continue;
            }
            var version = (truth.GetValueOrDefault(id)?.Version ?? 0) + rng.Next(-1, 3);
            var e = Entry(id, (VideoStage)rng.Next(5), version, $"class={rng.Next(4)}", rng.Next(2) == 0 ? "split=train" : "split=test");
            var changed = shard.Apply(e);
            var expected = !truth.TryGetValue(id, out var old) || (old.Version <= e.Version && !e.SameAs(old));
            Assert.Equal(expected, changed);
            if (changed) truth[id] = e;
        }

        var summary = shard.Summary();
        Assert.Equal(truth.Count, summary.Total);
        foreach (var stage in Enum.GetValues<VideoStage>())
            Assert.Equal(truth.Values.Count(e => e.Stage == stage), summary.ByStage.GetValueOrDefault(stage));
        Assert.Equal(truth.Values.Where(e => e.Stage == VideoStage.Embedded).Sum(e => e.SegmentCount), summary.Segments);
        Assert.Equal(truth.Values.Count(e => e.Labels.Contains("class=2")), summary.ByLabel.GetValueOrDefault("class=2"));
        Assert.Equal(truth.Values.Count(e => e.Stage == VideoStage.Failed), summary.FailuresByKind.GetValueOrDefault("NotMedia"));

        // Every filter combination pages to exactly the brute-force answer.
        foreach (var stage in new VideoStage?[] { null, VideoStage.Embedded, VideoStage.Registered })
            foreach (var label in new[] { null, "class=1", "split=test" })
            {
                var q = new VideoQuery { Stage = stage, Label = label, Limit = 37 };
                var expected = truth.Values.Where(e => (stage is null || e.Stage == stage) && (label is null || e.Labels.Contains(label)))
                    .Select(e => e.Id).Order(StringComparer.Ordinal).ToList();
                var seen = new List<string>();
                string? after = null;
                while (true)
                {
                    var page = shard.Query(q, after);
                    Assert.Equal(expected.Count, page.Matching);
                    seen.AddRange(page.Items.Select(e => e.Id));
                    if (!page.More) break;
                    after = page.Items[^1].Id;
                }
                Assert.Equal(expected, seen);
            }

        // The queue holds exactly the unfinished videos.
        Assert.Equal(truth.Values.Where(e => !IndexShard.IsFinished(e.Stage)).Select(e => e.Id).Order(StringComparer.Ordinal),
            shard.Queue.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_video_keeps_its_queue_place_through_its_own_transitions_and_requeues_at_the_back_after_finishing()
    {
        var shard = new IndexShard();
        shard.Apply(Entry("a", VideoStage.Registered, 1));
        shard.Apply(Entry("b", VideoStage.Registered, 1));
        shard.Apply(Entry("a", VideoStage.Probed, 2));
        Assert.Equal(["a", "b"], shard.Queue);
        shard.Apply(Entry("a", VideoStage.Failed, 3));
        Assert.Equal(["b"], shard.Queue);
        shard.Apply(Entry("a", VideoStage.Registered, 4)); // retried
        Assert.Equal(["b", "a"], shard.Queue);
    }

    [Fact]
    public void Stale_filter_lists_unfinished_videos_last_updated_before_the_time()
    {
        var shard = new IndexShard();
        shard.Apply(Entry("old", VideoStage.Segmented, 1));
        shard.Apply(Entry("new", VideoStage.Segmented, 100));
        shard.Apply(Entry("done", VideoStage.Embedded, 1));
        var page = shard.Query(new VideoQuery { StaleBefore = DateTimeOffset.UnixEpoch.AddSeconds(50) }, null);
        Assert.Equal(["old"], page.Items.Select(e => e.Id));
        Assert.Equal(1, page.Matching);
    }

    [Fact]
    public void A_column_with_a_value_per_video_does_not_make_the_summary_as_large_as_the_corpus()
    {
        var shard = new IndexShard();
        for (var i = 0; i < 3000; i++) shard.Apply(Entry($"v{i}", VideoStage.Embedded, 1, $"seconds={i}", "split=train"));
        var summary = shard.Summary();
        Assert.Equal(CorpusSummary.MaxLabels, summary.ByLabel.Count);
        Assert.Equal(3000, summary.ByLabel["split=train"]); // the frequent label is kept
        Assert.Equal(3001 - CorpusSummary.MaxLabels, summary.OtherLabels);
    }

    [Fact]
    public void Cursors_round_trip_and_malformed_ones_are_rejected_with_their_text()
    {
        Assert.Equal((3, "v1:x"), CorpusIndex.ParseCursor(CorpusIndex.Cursor(3, "v1:x")));
        Assert.Equal((0, null), CorpusIndex.ParseCursor(null));
        foreach (var bad in new[] { "x", ":v1", "3:", "-1:v", "a:b" })
            Assert.Contains(bad, Assert.Throws<ArgumentException>(() => CorpusIndex.ParseCursor(bad)).Message);
    }
}
