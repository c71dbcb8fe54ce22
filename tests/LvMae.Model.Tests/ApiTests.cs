using LvMae.Model.Data;
using LvMae.Model.Probing;
using LvMae.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

/// <summary>The seams other projects call: batches from arrays, presets, checkpoints, options.</summary>
public class ApiTests
{
    [Fact]
    public void Batches_from_videos_use_duration_windows_and_pad_with_zeros()
    {
        var rng = new Random(1);
        var videos = new List<float[]> { Synthetic.Video(rng, 1, 4), Synthetic.Video(rng, 3, 4), Synthetic.Video(rng, 500, 4) };
        var options = new DurationWindowOptions { MaxTokens = 64 };
        var batch = EmbeddingBatch.FromVideos(videos, 4, options, new Random(7));
        Assert.Equal(3, batch.BatchSize);
        Assert.All(batch.Lengths, l => Assert.InRange(l, 1, 64));
        Assert.True(batch.Lengths[0] <= 8);              // one segment tiled x8
        Assert.True(batch.Lengths[1] <= 9);              // three segments tiled x3
        for (var i = 0; i < 3; i++)
            Assert.All(batch.Data.Skip((i * batch.Tokens + batch.Lengths[i]) * 4).Take((batch.Tokens - batch.Lengths[i]) * 4), v => Assert.Equal(0f, v));
        // Tiled short video: every row is the single segment.
        for (var j = 0; j < batch.Lengths[0]; j++) Assert.Equal(videos[0], batch.Sample(0).Slice(j * 4, 4).ToArray());
        Assert.Equal(batch.Data, EmbeddingBatch.FromVideos(videos, 4, options, new Random(7)).Data);
        Assert.Throws<ArgumentException>(() => new EmbeddingBatch(new float[10], [2], 2, 4));
    }

    [Fact]
    public void Presets_build_with_the_reference_shapes()
    {
        var paper = MaeConfig.FromPreset("paper", 32);
        Assert.Equal((32, 8, 512, 8, 16), (paper.EncoderDepth, paper.EncoderHeads, paper.DecoderDim, paper.DecoderDepth, paper.DecoderHeads));
        Assert.False(paper.HasInputProjection);
        using var model = new LvMaeModel(paper, seed: 0);
        var state = model.state_dict();
        Assert.Equal(new long[] { 1, 257, 32 }, state["pos_embed"].shape);
        Assert.Contains("blocks.31.mlp.fc2.weight", state.Keys);
        Assert.Contains("decoder_blocks.7.attn.qkv.bias", state.Keys);
        Assert.Equal(new long[] { 1536, 512 }, state["decoder_blocks.0.attn.qkv.weight"].shape);
        Assert.True(MaeConfig.FromPreset("tiny", 512).HasInputProjection);
        Assert.Equal(MaeConfig.FromPreset("base", 384), MaeConfig.FromJson(MaeConfig.FromPreset("base", 384).ToJson()));
    }

    [Fact]
    public void Checkpoint_carries_weights_options_and_step()
    {
        var options = new TrainerOptions { Model = Synthetic.TinyConfig(), Masking = "semantic", ClipGradNorm = 0.5, Seed = 3, WarmupSteps = 2, TotalSteps = 10 };
        using var trainer = new Trainer(options, "cpu");
        trainer.Step(Synthetic.Batch(1, 16, 12, 7));
        var bytes = trainer.SaveCheckpoint();
        var (saved, step) = Checkpoint.ReadHeader(bytes);
        Assert.Equal(1, step);
        Assert.Equal(options, saved);
        using var model = ModelWeights.LoadModel(Checkpoint.ExtractWeights(bytes));
        Assert.True(model.state_dict()["blocks.0.attn.qkv.weight"].eq(trainer.Model.state_dict()["blocks.0.attn.qkv.weight"]).all().item<bool>());
        Assert.Throws<InvalidDataException>(() => Trainer.Resume([1, 2, 3], "cpu"));
    }

    [Fact]
    public void Cosine_loss_is_an_option()
    {
        using var scope = NewDisposeScope();
        using var model = new LvMaeModel(Synthetic.TinyConfig() with { Loss = ReconstructionLoss.Cosine }, seed: 1);
        Assert.IsType<CosineObjective>(model.Objective);
        var batch = Synthetic.Batch(2, 16, 8);
        var mask = new bool[8]; mask[3] = true;
        var output = model.Forward(batch.ToTensor(), TokenLayout.Build(8, [8], mask));
        var expected = 1 - nn.functional.cosine_similarity(output.Predictions[0, 0], output.Targets[0, 0], dim: 0);
        Assert.Equal(expected.item<float>(), output.Loss.item<float>(), 5);
    }

    [Fact]
    public void Mask_flags_beyond_a_samples_length_are_ignored()
    {
        var layout = TokenLayout.Build(6, [3, 6], [false, true, false, true, true, true, /* row 2 */ false, false, false, false, false, true]);
        Assert.Equal(new[] { 1L }, layout.TargetPositions.Take(layout.Targets).Where((_, k) => layout.TargetValid[k]));
        Assert.Equal(2, layout.VisibleValid.Take(layout.Visible).Count(v => v));
        Assert.Throws<ArgumentException>(() => TokenLayout.Build(6, [7], new bool[6]));
    }

    [Fact]
    public void Probe_suite_runs_every_default_probe_over_seeds_on_the_tasks_split()
    {
        var rng = new Random(2);
        var videos = Enumerable.Range(0, 12).Select(_ => Synthetic.Video(rng, rng.Next(2, 9), 16)).ToList();
        var task = ProbeTask.Classification("c", Enumerable.Range(0, 12).Select(i => i % 3).ToArray(), [0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10], [11]);
        using var model = new LvMaeModel(Synthetic.TinyConfig(), seed: 2);
        var settings = new ProbeSettings { Seeds = 2, Epochs = 1, Device = "cpu" };
        var encoded = ProbeSet.FromEncoder(model, videos, 16);
        var raw = ProbeSet.Raw(videos, 16);
        Assert.Equal(["linear", "attentive", "attentive+pos"], ProbeSuite.DefaultProbes(task, raw: false));
        Assert.Equal(["linear", "attentive", "attentive+pos"], ProbeSuite.DefaultProbes(task, raw: true));
        var rows = ProbeSuite.DefaultProbes(task, false).Select(p => ProbeSuite.Run(encoded, task, p, settings))
            .Concat(ProbeSuite.DefaultProbes(task, true).Select(p => ProbeSuite.Run(raw, task, p, settings))).ToList();
        Assert.All(rows, r => Assert.Equal((8, 3, 1, 2), (r.Train, r.Test, r.Val, r.Seeds)));
        Assert.All(rows, r => Assert.InRange(r.Top1!.Value, 0, 1));
        Assert.All(rows, r => Assert.NotNull(r.ValTop1));
        Assert.Throws<ArgumentException>(() => ProbeSuite.Run(raw, task, "regression", settings));
    }

    [Fact]
    public void Moving_the_model_moves_its_parameter_fields_too()
    {
        // The same path as .to(CUDA): forward reads the fields (cls_token, pos_embed, ...), which must follow.
        using var scope = NewDisposeScope();
        using var model = new LvMaeModel(Synthetic.TinyConfig() with { EncoderDim = 32 }, seed: 1);
        model.to(ScalarType.Float64);
        var mask = new bool[8]; mask[2] = true;
        var output = model.Forward(Synthetic.Batch(1, 16, 8).ToTensor().to(ScalarType.Float64), TokenLayout.Build(8, [8], mask));
        Assert.Equal(ScalarType.Float64, output.Loss.dtype);
    }
}
