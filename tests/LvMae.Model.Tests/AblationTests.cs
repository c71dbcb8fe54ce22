using LvMae.Model.Ablation;
using Xunit.Abstractions;

namespace LvMae.Model.Tests;

public class AblationTests(ITestOutputHelper output)
{
    [Fact]
    public void The_default_grid_trains_and_probes_every_row_on_the_same_data()
    {
        var rng = new Random(6);
        var videos = Enumerable.Range(0, 24).Select(_ => Synthetic.SmoothVideo(rng, rng.Next(12, 40), 16)).ToList();
        var labels = Enumerable.Range(0, 24).Select(i => i % 2).ToArray();
        var options = new AblationOptions { Steps = 4, BatchSize = 4, ProbeEpochs = 2, ContextTokens = [64], FsqLevels = [5, 5, 3], Seed = 1 };
        var rows = AblationRunner.Run(videos, 16, labels, options);
        foreach (var row in rows)
            output.WriteLine($"{row.Name,-40} linear {row.LinearTop1:P0} attentive {row.AttentiveTop1:P0} {row.MsPerStep,6:F1} ms/step {row.PeakRssBytes / 1048576.0,6:F0} MiB decoder tokens/step {row.DecoderTokensPerStep:F1}");

        var trained = rows.Where(r => r.Config is not null).ToList();
        Assert.Equal(AblationRunner.Grid(options).Count, trained.Count);
        Assert.Equal(7, trained.Count);
        Assert.All(trained, r => Assert.True(r.FinalLoss is { } loss && double.IsFinite(loss) && r.LinearTop1 is >= 0 and <= 1 && r.MsPerStep > 0));
        Assert.Contains(rows, r => r.Name.StartsWith("FSQ [5,5,3]", StringComparison.Ordinal));
        // Same data and seeds: the 15% decoder decodes fewer tokens than the full one.
        var full = trained.Single(r => r.Config!.Masking == "random" && r.Config.DecoderBudget >= 1 && r.Config.MaxTokens == 256);
        var budget = trained.Single(r => r.Config!.Masking == "random" && r.Config.DecoderBudget < 1);
        Assert.True(budget.DecoderTokensPerStep < full.DecoderTokensPerStep / 2);
    }

    [Fact]
    public void The_full_grid_is_masking_by_target_by_budget_plus_the_context_sweep()
    {
        var grid = AblationRunner.Grid(new AblationOptions { Full = true });
        Assert.Equal(3 * 2 * 3 + 2 * 2 + 2 * 2, grid.Count);   // adaptive at 100% is random at 100%: skipped; the sweep's 256 rows are in the grid
        Assert.Equal([256, 512, 1024], grid.Where(c => c.MaxTokens > 256 || c.Masking == "adaptive" && c.MaxTokens == 256 && c.DecoderBudget == 0.15 && !c.FsqTargets).Select(c => c.MaxTokens).Distinct().Order());
    }
}
