namespace LvMae.Media.Tests;

public sealed class ThreadBudgetTests
{
    [Theory]
    [InlineData(2, 1, 2, true)]   // this machine's default: one job, both stages may use both cores
    [InlineData(2, 2, 1, true)]
    [InlineData(16, 8, 2, true)]
    [InlineData(8, 1, 8, true)]
    [InlineData(8, 3, 2, true)]   // 8 / 3 rounds down: 6 of 8 cores busy at most
    [InlineData(1, 1, 1, true)]
    [InlineData(2, 4, 1, false)]  // more jobs than cores: one thread each is already too many
    public void Each_stage_gets_the_jobs_share_of_the_cores(int cores, int jobs, int share, bool fits)
    {
        var budget = MediaThreadBudget.For(cores, jobs);
        Assert.Equal((jobs, share, share), (budget.Jobs, budget.DecoderThreads, budget.InferenceThreads));
        Assert.Equal(share, budget.BusyThreadsPerJob);
        Assert.Equal(fits, budget.FitsIn(cores));
        Assert.True(jobs * budget.BusyThreadsPerJob <= Math.Max(cores, jobs));
    }

    [Fact]
    public void Nonsense_cores_or_jobs_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => MediaThreadBudget.For(0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => MediaThreadBudget.For(4, 0));
    }

    [Fact]
    public void A_budget_sets_the_thread_counts_and_keeps_the_other_options()
    {
        var budget = MediaThreadBudget.For(12, 4);
        var encoder = budget.Apply(new EncoderOptions { BatchFrames = 4, FramesPerSegment = 3 });
        Assert.Equal((3, 4, 3), (encoder.IntraOpThreads, encoder.BatchFrames, encoder.FramesPerSegment));
        var sampling = budget.Apply(FrameSamplingOptions.Exact);
        Assert.Equal((3, false, false), (sampling.DecoderThreads, sampling.SkipNonReferenceFrames, sampling.SkipLoopFilter));
        Assert.Equal(MediaThreadBudget.For(Environment.ProcessorCount, 2), MediaThreadBudget.ForThisMachine(2));
    }
}
