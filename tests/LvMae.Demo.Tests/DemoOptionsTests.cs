using LvMae.Contracts;
using LvMae.Demo;

namespace LvMae.Demo.Tests;

/// <summary>What the demo's options make of its training runs' configs.</summary>
public sealed class DemoOptionsTests
{
    [Fact]
    public void Default_runs_pre_train_on_the_train_split_at_the_library_s_ratios()
    {
        var runner = new DemoRunner(DemoOptions.Default("/tmp/x"));
        var random = runner.RunConfig("random", 1);
        var semantic = runner.RunConfig("semantic", 1);
        Assert.False(random.TrainOnHeldOut);
        Assert.Null(random.MaskRatio);     // lvmae train's default (0.6, chosen on val): no ratio chosen on test videos
        Assert.Null(semantic.MaskRatio);   // the strategy's default (0.5)
        Assert.False(semantic.TrainOnHeldOut);
        Assert.Equal(TrainingRunConfig.DefaultSteps, random.Steps);   // lvmae train's default too, not a demo setting
        Assert.Equal(300, new DemoRunner(DemoOptions.QuickRun("/tmp/x")).RunConfig("random", 7).Steps);
    }

    [Fact]
    public void A_mask_ratio_applies_to_every_strategy_and_held_out_videos_can_join_pre_training()
    {
        var options = DemoOptions.Default("/tmp/x") with { MaskRatio = 0.6, PretrainOnHeldOut = true };
        var runner = new DemoRunner(options);
        Assert.Equal(0.6, runner.RunConfig("random", 1).MaskRatio);
        Assert.Equal(0.6, runner.RunConfig("semantic", 1).MaskRatio);
        Assert.True(runner.RunConfig("random", 1).TrainOnHeldOut);
        Assert.Throws<ArgumentException>(() => (DemoOptions.Default("/tmp/x") with { DemoMaskRatios = new Dictionary<string, double> { ["random"] = 1.5 } }).Validate());
    }
}
