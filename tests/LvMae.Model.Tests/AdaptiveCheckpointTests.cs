using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Quantization;
using LvMae.Model.Training;

namespace LvMae.Model.Tests;

/// <summary>LVMAE's additions ride in the core Trainer: a resumed run continues exactly, scorer and FSQ head included.</summary>
public class AdaptiveCheckpointTests
{
    private static List<float[]> Videos()
    {
        var rng = new Random(5);
        return Enumerable.Range(0, 6).Select(_ => Synthetic.SmoothVideo(rng, rng.Next(8, 40), 16)).ToList();
    }

    private static EmbeddingBatch BatchFor(List<float[]> videos, long step) =>
        EmbeddingBatch.FromVideos(videos, 16, new DurationWindowOptions { MaxTokens = 32, MaxSeconds = 200 }, new Random((int)step + 100));

    [Theory]
    [InlineData("random", false)]
    [InlineData("adaptive", false)]
    [InlineData("all", true)]
    [InlineData("adaptive", true)]
    public void Resuming_an_lvmae_run_reproduces_its_loss_curve(string decoder, bool fsqTargets)
    {
        var videos = Videos();
        var (fsq, _, _) = FsqAutoencoder.Fit(videos, 16, new FsqOptions { Levels = [5, 5, 3], Hidden = 32, Steps = 30, BatchTokens = 64, Seed = 2 });
        using var _ = fsq;
        var options = new TrainerOptions
        {
            Model = Synthetic.TinyConfig(16, 32), AbsoluteLr = 3e-3, WarmupSteps = 2, TotalSteps = 20, ClipGradNorm = 1, Seed = 9,
            Adaptive = new AdaptiveOptions { DecoderMasking = DecoderSelection.Parse(decoder), DecoderBudget = 0.2, FsqTargets = fsqTargets, Scorer = new ScorerOptions { Hidden = 16, Samples = 20 } },
        };
        Trainer Fresh() => new(options, "cpu", fsq: fsqTargets ? fsq : null);

        List<double> straight;
        var straightTargets = new List<int[]>();
        using (var trainer = Fresh())
            straight = Enumerable.Range(0, 6).Select(s =>
            {
                var loss = trainer.Step(BatchFor(videos, s)).Loss;
                straightTargets.AddRange(trainer.LastDecoderTargets);
                return loss;
            }).ToList();

        byte[] checkpoint;
        var resumed = new List<double>();
        var resumedTargets = new List<int[]>();
        using (var trainer = Fresh())
        {
            for (var s = 0; s < 3; s++) { resumed.Add(trainer.Step(BatchFor(videos, s)).Loss); resumedTargets.AddRange(trainer.LastDecoderTargets); }
            checkpoint = trainer.SaveCheckpoint();
            trainer.Step(BatchFor(videos, 99));   // diverge the original, scorer included: must not matter
        }
        using (var trainer = Trainer.Resume(checkpoint, "cpu"))
        {
            Assert.Equal(options.Adaptive.DecoderMasking, trainer.Options.Adaptive.DecoderMasking);
            Assert.Equal(fsqTargets, trainer.FsqObjective is not null);
            Assert.Equal(options.Adaptive.DecoderMasking == DecoderMasking.Adaptive, trainer.Scorer is not null);
            for (var s = 3; s < 6; s++) { resumed.Add(trainer.Step(BatchFor(videos, s)).Loss); resumedTargets.AddRange(trainer.LastDecoderTargets); }
        }
        Assert.Equal(straight, resumed);
        Assert.Equal(straightTargets, resumedTargets);   // the scorer picked the same decoder tokens after the resume
        if (decoder != "all") Assert.Contains(straightTargets, t => t.Length > 0);
    }

    [Fact]
    public void Decoder_masking_names_parse_and_bad_ones_are_named()
    {
        Assert.Equal(DecoderMasking.Adaptive, DecoderSelection.Parse("Adaptive"));
        Assert.Equal(DecoderMasking.All, DecoderSelection.Parse("all"));
        Assert.Contains("'topk'", Assert.Throws<ArgumentException>(() => DecoderSelection.Parse("topk")).Message);
        Assert.Throws<ArgumentException>(() => DecoderSelection.Parse("2"));
        var bad = new TrainerOptions { Model = Synthetic.TinyConfig(16, 32), Adaptive = new AdaptiveOptions { DecoderMasking = DecoderMasking.Random, DecoderBudget = 1.5 } };
        Assert.Contains("1.5", Assert.Throws<ArgumentException>(() => new Trainer(bad, "cpu")).Message);
    }
}
