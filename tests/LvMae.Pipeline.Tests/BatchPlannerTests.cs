using LvMae.Model.Data;

namespace LvMae.Pipeline.Tests;

public class BatchPlannerTests
{
    private static WindowedSample Sample(string id, int length, long epoch = 0, int d = 2) =>
        new(epoch, id, Enumerable.Repeat(1f, length * d).ToArray(), length, Enumerable.Range(0, length).ToArray(), null);

    private static PlannedWindow Window(string id, int length) =>
        new(new EmbeddedVideoDescriptor(id, TestCorpus.Encoder, 1000), new WindowSpan(1000, 0, length));

    /// <summary>Windows of random lengths in [1, 32], in a "shuffle order".</summary>
    private static List<PlannedWindow> RandomWindows(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i => Window($"v{i:D4}", rng.Next(1, 33))).ToList();
    }

    private static double ValidShare(IEnumerable<PlannedBatch> batches) =>
        (double)batches.Sum(b => b.Windows.Sum(w => w.Length)) / batches.Sum(b => (long)b.Windows.Count * b.LongestWindow);

    [Fact]
    public void In_shuffle_order_a_longer_window_closes_the_batch_when_padding_would_exceed_the_budget()
    {
        var planner = new BatchPlanner(maxBatchSize: 4, tokenBudget: 20, bucketByLength: false);
        var batches = planner.Plan(seed: 1, epoch: 0, [Window("a", 5), Window("b", 5), Window("c", 6), Window("d", 11), Window("e", 1)]);
        Assert.Equal([["a", "b", "c"], ["d"], ["e"]], batches.Select(b => b.Windows.Select(w => w.Video.VideoId).ToArray()));
        Assert.Equal([0, 1, 2], batches.Select(b => b.IndexInEpoch));   // 3 x 6 = 18 fits, 4 x 11 would not; d + e = 2 x 11 > 20
    }

    [Fact]
    public void Sample_count_closes_the_batch()
    {
        var planner = new BatchPlanner(maxBatchSize: 2, tokenBudget: 100, bucketByLength: false);
        var batches = planner.Plan(1, 3, [Window("a", 1), Window("b", 1), Window("c", 1)]);
        Assert.Equal([2, 1], batches.Select(b => b.Windows.Count));
        Assert.All(batches, b => Assert.Equal(3L, b.Epoch));
    }

    [Fact]
    public void Bucketing_plans_every_window_once_within_the_budget_with_far_less_padding()
    {
        var windows = RandomWindows(2000, seed: 4);
        var bucketed = new BatchPlanner(maxBatchSize: 8, tokenBudget: 128, bucketByLength: true).Plan(7, 2, windows);
        var inOrder = new BatchPlanner(maxBatchSize: 8, tokenBudget: 128, bucketByLength: false).Plan(7, 2, windows);

        Assert.Equal(windows.Select(w => w.Video.VideoId).Order(), bucketed.SelectMany(b => b.Windows).Select(w => w.Video.VideoId).Order());
        Assert.Equal(Enumerable.Range(0, bucketed.Count), bucketed.Select(b => b.IndexInEpoch));
        Assert.All(bucketed, b =>
        {
            Assert.InRange(b.Windows.Count, 1, 8);
            Assert.True(b.Windows.Count * b.LongestWindow <= 128);
        });
        // Windows of 1-32 tokens in shuffle order pad to ~60% valid; sorted by length, almost nothing is padding.
        Assert.True(ValidShare(bucketed) > 0.97, $"bucketed batches are {ValidShare(bucketed):P1} valid tokens");
        Assert.True(ValidShare(inOrder) < 0.75, $"batches in shuffle order are {ValidShare(inOrder):P1} valid tokens");
    }

    [Fact]
    public void Bucketed_batches_come_in_a_seeded_random_order_not_sorted_by_length()
    {
        var windows = RandomWindows(500, seed: 5);
        var planner = new BatchPlanner(maxBatchSize: 8, tokenBudget: 128, bucketByLength: true);
        string[][] Ids(IEnumerable<PlannedBatch> plan) => plan.Select(b => b.Windows.Select(w => w.Video.VideoId).ToArray()).ToArray();

        var plan = planner.Plan(11, 0, windows);
        Assert.Equal(Ids(plan), Ids(planner.Plan(11, 0, windows)));           // a pure function of (seed, epoch, windows)
        Assert.NotEqual(Ids(plan), Ids(planner.Plan(11, 1, windows)));        // another epoch, another order
        Assert.NotEqual(Ids(plan), Ids(planner.Plan(12, 0, windows)));        // another seed, another order
        var longest = plan.Select(b => b.LongestWindow).ToList();
        Assert.NotEqual(longest.Order(), longest);                           // no length curriculum within the epoch
        // The same batches, only their order differs between seeds.
        Assert.Equal(Ids(plan).Select(b => string.Join(",", b)).Order(), Ids(planner.Plan(12, 0, windows)).Select(b => string.Join(",", b)).Order());
    }

    [Fact]
    public void A_window_longer_than_the_budget_is_refused_by_name()
    {
        var error = Assert.Throws<ArgumentException>(() => new BatchPlanner(4, 10, true).Plan(1, 0, [Window("long", 11)]));
        Assert.Contains("'long'", error.Message);
    }

    [Fact]
    public void Pack_pads_shorter_samples_with_zeros()
    {
        var batch = TrainingBatch.Pack([Sample("a", 1), Sample("b", 3)], dimension: 2, indexInEpoch: 0);
        Assert.Equal(3, batch.MaxLength);
        Assert.Equal([1, 3], batch.Lengths);
        Assert.Equal([1f, 1f, 0f, 0f, 0f, 0f, 1f, 1f, 1f, 1f, 1f, 1f], batch.Embeddings);
        Assert.Null(batch.Labels);
    }
}
