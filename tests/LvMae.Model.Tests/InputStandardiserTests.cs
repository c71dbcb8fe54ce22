using LvMae.Model.Data;
using LvMae.Model.Training;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

public class InputStandardiserTests
{
    [Fact]
    public void Observing_in_batches_gives_the_statistics_of_all_rows()
    {
        var rng = new Random(3);
        var rows = Enumerable.Range(0, 50).Select(_ => Enumerable.Range(0, 4).Select(c => (float)(c * 2 + rng.NextDouble() * (c + 1))).ToArray()).ToArray();
        using var standardiser = new InputStandardiser(4);
        foreach (var chunk in rows.Chunk(7))
            using (var t = tensor(chunk.SelectMany(r => r).ToArray(), new long[] { chunk.Length, 4 })) standardiser.Observe(t);
        Assert.Equal(50, standardiser.Count);

        using var all = tensor(rows.SelectMany(r => r).ToArray(), new long[] { 50, 4 });
        using var z = standardiser.forward(all);
        var zs = z.data<float>().ToArray();
        for (var c = 0; c < 4; c++)
        {
            var column = Enumerable.Range(0, 50).Select(i => (double)zs[i * 4 + c]).ToArray();
            Assert.Equal(0, column.Average(), 4);
            Assert.Equal(1, Math.Sqrt(column.Select(v => v * v).Average()), 3);   // population sd
        }
    }

    [Fact]
    public void Unfitted_is_the_identity_padding_stays_zero_and_constant_dimensions_are_not_amplified()
    {
        using var standardiser = new InputStandardiser(3);
        using var x = tensor(new float[] { 1, 2, 3, 0, 0, 0 }, new long[] { 2, 3 });
        Assert.Equal(new float[] { 1, 2, 3, 0, 0, 0 }, standardiser.forward(x).data<float>().ToArray());

        // Dimension 2 is constant: centred to 0, not divided by ~0.
        using var fit = tensor(new float[] { 1, 0, 5, 3, 2, 5, 2, 4, 5 }, new long[] { 3, 3 });
        standardiser.Observe(fit);
        var z = standardiser.forward(fit).data<float>().ToArray();
        Assert.All(new[] { z[2], z[5], z[8] }, v => Assert.Equal(0, v, 5));
        Assert.All(z, v => Assert.True(Math.Abs(v) < 3));
    }

    [Fact]
    public void A_model_that_standardises_fits_it_during_warm_up_and_keeps_it_in_the_checkpoint()
    {
        // Presets no longer standardise (docs/LEARNING.md, session 10); a run opts in with --model StandardiseInputs=true.
        Assert.False(MaeConfig.FromPreset("tiny", 16, 32).StandardiseInputs);
        var config = MaeConfig.FromPreset("tiny", 16, 32) with { StandardiseInputs = true };
        var rng = new Random(5);
        // A large common direction, as frozen encoders give.
        var videos = Enumerable.Range(0, 8).Select(_ => Synthetic.SmoothVideo(rng, 20, 16).Select((v, i) => v + (i % 16 == 0 ? 10f : 0f)).ToArray()).ToList();
        var options = new TrainerOptions { Model = config, WarmupSteps = 2, TotalSteps = 6, Seed = 1 };
        using var trainer = new Trainer(options, "cpu");
        Assert.Equal(0, trainer.Model.StandardisedOn);
        var batch = EmbeddingBatch.FromSequences(videos, 16);
        trainer.Step(batch);
        Assert.Equal(160, trainer.Model.StandardisedOn);
        trainer.Step(batch);
        trainer.Step(batch);
        Assert.Equal(320, trainer.Model.StandardisedOn);   // frozen after the warm-up's 2 steps

        // The prepared inputs no longer share the common direction: their mean is ~0 in every dimension.
        using (var x = batch.ToTensor(CPU))
        using (var prepared = trainer.Model.PrepareInput(x))
            Assert.True(prepared.mean([0L, 1L]).abs().max().item<float>() < 0.2);

        using var resumed = Trainer.Resume(trainer.SaveCheckpoint(), "cpu");
        Assert.Equal(320, resumed.Model.StandardisedOn);
        using var a = trainer.Model.PrepareInput(batch.ToTensor(CPU));
        using var b = resumed.Model.PrepareInput(batch.ToTensor(CPU));
        Assert.True(a.allclose(b));
    }

    [Fact]
    public void Reconstructions_map_back_to_the_inputs_embedding_space()
    {
        var config = MaeConfig.FromPreset("tiny", 16, 32) with { StandardiseInputs = true };
        var rng = new Random(9);
        var videos = Enumerable.Range(0, 8).Select(_ => Synthetic.SmoothVideo(rng, 20, 16).Select((v, i) => v + (i % 16 == 0 ? 10f : 0f)).ToArray()).ToList();
        using var trainer = new Trainer(new TrainerOptions { Model = config, WarmupSteps = 1, TotalSteps = 2, Seed = 1 }, "cpu");
        var batch = EmbeddingBatch.FromSequences(videos, 16);
        trainer.Step(batch);
        // A perfect reconstruction (the prepared input itself) comes back as the unit input, up to the norm the
        // renormalisation dropped: far closer than the prepared vector itself, which lost the common direction.
        using var x = batch.ToTensor(CPU);
        using var unit = LvMaeModel.Normalise(x);
        using var prepared = trainer.Model.PrepareInput(x);
        using var restored = trainer.Model.ToEmbeddingSpace(prepared);
        var back = nn.functional.cosine_similarity(restored, unit, -1).mean().item<float>();
        var raw = nn.functional.cosine_similarity(prepared, unit, -1).mean().item<float>();
        Assert.True(back > 0.95, $"restored cosine {back}");
        Assert.True(back > raw + 0.3, $"restored {back} vs prepared {raw}");
    }
}
