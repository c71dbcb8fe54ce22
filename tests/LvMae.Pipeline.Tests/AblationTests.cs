using LvMae.Pipeline.Ablation;
using Xunit.Abstractions;

namespace LvMae.Pipeline.Tests;

public class AblationTests(ITestOutputHelper output)
{
    /// <summary>Smooth random walks per class (two classes, their own drift), 16-d.</summary>
    private static IReadOnlyList<AblationVideo> Videos(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i =>
        {
            var n = rng.Next(12, 40);
            var data = new float[n * 16];
            var x = new float[16];
            for (var j = 0; j < n; j++)
                for (var k = 0; k < 16; k++)
                {
                    x[k] = 0.9f * x[k] + (float)(rng.NextDouble() - 0.5) + (i % 2 == 0 ? 0.05f : -0.05f) * k;
                    data[j * 16 + k] = x[k];
                }
            return new AblationVideo($"v{i:D2}", data, i % 2 == 0 ? "a" : "b", i / 2 % 4 == 3 ? SplitRole.Test : SplitRole.Train);
        }).ToList();
    }

    [Theory]
    [InlineData("random", false, 1.0, 256, "All")]
    [InlineData("random", false, 0.15, 256, "Random")]
    [InlineData("adaptive", true, 0.15, 512, "Adaptive")]
    public void Each_row_trains_with_the_options_lvmae_train_gives_the_same_settings(string masking, bool fsq, double budget, int tokens, string decoder)
    {
        // One route from settings to trainer and feed (RunSettings): a row is the training run of its settings.
        var options = new AblationOptions { Preset = "tiny", Steps = 120, BatchSize = 8, Lr = 2e-3, Seed = 5 };
        var run = AblationRunner.RunConfig(new AblationConfig(masking, fsq, budget, tokens), options);
        var trainer = RunSettings.TrainerOptions(run, 16, options.Steps);
        var feed = RunSettings.FeedOptions(run, 16, start: default);

        Assert.Equal(masking == "adaptive" ? "random" : masking, trainer.Masking);
        Assert.Equal(Enum.Parse<LvMae.Model.Adaptive.DecoderMasking>(decoder), trainer.Adaptive.DecoderMasking);
        Assert.Equal(Math.Min(1, budget), trainer.Adaptive.DecoderBudget);
        Assert.Equal(fsq, trainer.Adaptive.FsqTargets);
        Assert.Equal((tokens, 2e-3, 120L, 12L, 5L, 8), (trainer.Model.MaxTokens, trainer.AbsoluteLr!.Value, trainer.TotalSteps, trainer.WarmupSteps, trainer.Seed, trainer.BatchSize));
        Assert.Equal("tiny", trainer.Model.Preset);
        Assert.Equal((tokens, tokens * 5.0, tokens * 5.0), (feed.Window.MaxTokens, feed.Window.MinSeconds, feed.Window.MaxSeconds));
        Assert.Equal((8, 8 * tokens, 5, (long?)null), (feed.MaxBatchSize, feed.TokenBudget, feed.Seed, feed.Epochs));
    }

    [Fact]
    public void The_default_grid_trains_through_the_feed_and_probes_every_row_on_the_same_split_over_seeds()
    {
        // 24 labelled videos and 4 that pre-train only (no label: never a class of their own, in no probe split).
        var videos = Videos(24, 6).Concat(Videos(4, 9).Select(v => v with { Id = "p" + v.Id, Label = "", Role = SplitRole.Pretrain })).ToList();
        var options = new AblationOptions { Steps = 4, BatchSize = 4, ProbeEpochs = 2, ProbeSeeds = 1, PretrainSeeds = 2, ContextTokens = [64], FsqLevels = [5, 5, 3], Seed = 1 };
        var rows = AblationRunner.Run(videos, 16, options);
        foreach (var row in rows)
            output.WriteLine($"{row.Name,-40} linear {row.LinearTop1:P0} attentive {row.AttentiveTop1:P0} {row.MsPerStep,6:F1} ms/step {row.PeakRssBytes / 1048576.0,6:F0} MiB decoder tokens/step {row.DecoderTokensPerStep:F1}");

        var trained = rows.Where(r => r.Config is not null).ToList();
        Assert.Equal(AblationRunner.Grid(options).Count, trained.Count);
        Assert.Equal(7, trained.Count);
        Assert.All(trained, r => Assert.True(r.FinalLoss is { } loss && double.IsFinite(loss) && r.LinearTop1 is >= 0 and <= 1 && r.MsPerStep > 0));
        // The held-out rule: every probe trains on the 18 train videos and scores the 6 test videos; a model's row is the mean
        // ± sd over its 2 pre-training seeds, under the product's three probes.
        Assert.All(trained, r => Assert.Equal((18, 6, 2), (r.Attentive!.Train, r.Attentive.Test, r.Attentive.Seeds)));
        Assert.All(trained, r => Assert.Equal((LvMae.Model.Probing.ProbeSuite.AttentivePositions, 2), (r.AttentivePositions!.Probe, r.AttentivePositions.Seeds)));
        Assert.All(trained, r => Assert.NotNull(r.Attentive!.Top1Sd));
        var majority = Assert.Single(rows, r => r.Name == "majority baseline");
        Assert.Equal(0.5, majority.Linear!.Top1!.Value, 9); // 3 'a' and 3 'b' test videos; 'a' (index 0) wins the 9:9 tie
        Assert.Contains(rows, r => r.Name == "raw embeddings, attentive probe with positions" && r.Attentive!.Probe == "attentive+pos");
        var untrained = Assert.Single(rows, r => r.Name == AblationRunner.UntrainedRow);
        Assert.NotNull(untrained.Linear?.Top1);
        Assert.NotNull(untrained.Attentive?.Top1);
        Assert.Equal(2, untrained.AttentivePositions!.Seeds); // step 0 over the same pre-training seeds
        Assert.Contains(rows, r => r.Name.StartsWith("FSQ [5,5,3]", StringComparison.Ordinal));
        // Same data and seeds: the 15% decoder decodes fewer tokens than the full one.
        var full = trained.Single(r => r.Config!.Masking == "random" && r.Config.DecoderBudget >= 1 && r.Config.MaxTokens == 256);
        var budget = trained.Single(r => r.Config!.Masking == "random" && r.Config.DecoderBudget < 1);
        Assert.True(budget.DecoderTokensPerStep < full.DecoderTokensPerStep / 2);
    }

    [Fact]
    public void Without_test_videos_the_ablation_refuses_with_a_clear_message()
    {
        var videos = Videos(8, 1).Select(v => v with { Role = SplitRole.Train }).ToList();
        var error = Assert.Throws<ArgumentException>(() => AblationRunner.Run(videos, 16, new AblationOptions { Steps = 1 }));
        Assert.Contains("train and test videos", error.Message);
    }

    [Fact]
    public void The_full_grid_is_masking_by_target_by_budget_plus_the_context_sweep()
    {
        var grid = AblationRunner.Grid(new AblationOptions { Full = true });
        Assert.Equal(3 * 2 * 3 + 2 * 2 + 2 * 2, grid.Count);   // adaptive at 100% is random at 100%: skipped; the sweep's 256 rows are in the grid
        Assert.Equal([256, 512, 1024], grid.Where(c => c.MaxTokens > 256 || c.Masking == "adaptive" && c.MaxTokens == 256 && c.DecoderBudget == 0.15 && !c.FsqTargets).Select(c => c.MaxTokens).Distinct().Order());
    }
}
