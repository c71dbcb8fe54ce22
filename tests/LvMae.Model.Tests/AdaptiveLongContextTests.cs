using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Training;
using Xunit.Abstractions;

namespace LvMae.Model.Tests;

/// <summary>Item 5: hour-long videos (1024 segments = 85 min) past the 256 cap train with decoder masking.</summary>
public class AdaptiveLongContextTests(ITestOutputHelper output)
{
    [Fact]
    public void A_1024_token_batch_trains_a_step_on_the_default_preset_with_decoder_masking_in_bounded_memory()
    {
        const int dim = 512, tokens = 1024;
        var rng = new Random(4);
        var videos = new List<float[]> { Synthetic.SmoothVideo(rng, tokens, dim), Synthetic.SmoothVideo(rng, 700, dim) };
        var batch = EmbeddingBatch.FromSequences(videos, dim);
        var options = new TrainerOptions { Model = MaeConfig.FromPreset("small", dim, maxTokens: tokens), AbsoluteLr = 1e-4, WarmupSteps = 1, TotalSteps = 10, Seed = 1 };

        var before = PeakMemory.CurrentRssBytes();
        using var memory = PeakMemory.Track();
        using var trainer = new Trainer(options with { Adaptive = new AdaptiveOptions { DecoderMasking = DecoderMasking.Adaptive, DecoderBudget = 0.15 } });
        var first = trainer.Step(batch);
        var second = trainer.Step(batch);
        var peak = memory.PeakBytes;
        output.WriteLine($"small preset, 2 x (1024, 700) tokens, 15% adaptive decoder budget: {second.MaskedTokens} decoder targets, " +
                         $"step {second.Elapsed.TotalMilliseconds:F0} ms, peak RSS {peak / 1048576.0:F0} MiB (was {before / 1048576.0:F0} MiB before the model)");
        Assert.True(double.IsFinite(first.Loss) && double.IsFinite(second.Loss));
        Assert.Equal(DecoderSelection.BudgetTokens(1024, 0.15) + DecoderSelection.BudgetTokens(700, 0.15), second.MaskedTokens);
        if (peak > 0) Assert.True(peak < 3L << 30, $"peak RSS {peak / 1048576.0:F0} MiB");
    }
}
