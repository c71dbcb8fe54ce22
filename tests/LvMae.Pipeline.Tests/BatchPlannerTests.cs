namespace LvMae.Pipeline.Tests;

public class BatchPlannerTests
{
    private static WindowedSample Sample(string id, int length, long epoch = 0, int d = 2) =>
        new(epoch, id, Enumerable.Repeat(1f, length * d).ToArray(), length, Enumerable.Range(0, length).ToArray(), null);

    [Fact]
    public void A_longer_sample_closes_the_batch_when_padding_would_exceed_the_budget()
    {
        var planner = new BatchPlanner(maxBatchSize: 4, tokenBudget: 20, dimension: 2);
        planner.Add(Sample("a", 5));
        planner.Add(Sample("b", 5));
        Assert.True(planner.Fits(Sample("c", 6)));   // 3 x 6 = 18
        Assert.False(planner.Fits(Sample("d", 11))); // 3 x 11 = 33
        var batch = planner.Take();
        Assert.Equal(["a", "b"], batch.VideoIds);
        Assert.Equal(10, batch.PaddedTokens);
    }

    [Fact]
    public void Sample_count_and_epoch_change_close_the_batch_and_index_restarts_per_epoch()
    {
        var planner = new BatchPlanner(maxBatchSize: 2, tokenBudget: 100, dimension: 2);
        planner.Add(Sample("a", 1));
        planner.Add(Sample("b", 1));
        Assert.False(planner.Fits(Sample("c", 1)));
        Assert.Equal(0, planner.Take().IndexInEpoch);
        planner.Add(Sample("c", 1));
        Assert.False(planner.Fits(Sample("d", 1, epoch: 1)));
        Assert.Equal(1, planner.Take().IndexInEpoch);
        planner.Add(Sample("d", 1, epoch: 1));
        var next = planner.Take();
        Assert.Equal((1L, 0), (next.Epoch, next.IndexInEpoch));
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
