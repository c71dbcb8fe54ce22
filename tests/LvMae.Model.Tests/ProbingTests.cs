using LvMae.Model.Probing;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

public class ProbingTests
{
    private const int Dim = 16;

    /// <summary>Class c videos drift around direction +/- e_0: linearly separable after mean pooling.</summary>
    private static (List<float[]> Videos, int[] Labels, float[] Targets) Data(int count, int seed)
    {
        var rng = new Random(seed);
        var videos = new List<float[]>();
        var labels = new int[count];
        var targets = new float[count];
        for (var i = 0; i < count; i++)
        {
            labels[i] = i % 2;
            var n = rng.Next(3, 20);
            var v = Synthetic.Video(rng, n, Dim);
            for (var j = 0; j < v.Length; j++) v[j] *= 0.3f;
            for (var j = 0; j < n; j++) v[j * Dim] = labels[i] == 0 ? 3f : -3f;
            videos.Add(v);
            targets[i] = labels[i] == 0 ? 1f : -1f;
        }
        return (videos, labels, targets);
    }

    [Fact]
    public void Probes_separate_linearly_separable_labels_on_raw_and_encoder_features()
    {
        var (videos, labels, targets) = Data(48, 1);
        var raw = ProbeSet.Raw(videos, Dim, labels, targets).Split(0.25, seed: 2);
        Assert.Equal(12, raw.Test.Count);

        var linear = ProbeTrainer.Run(raw.Train, raw.Test, ProbeOptions.Linear() with { Lr = 3e-2, Epochs = 15, Device = "cpu" });
        Assert.Equal(1.0, linear.Top1);

        var attentive = ProbeTrainer.Run(raw.Train, raw.Test, ProbeOptions.Attentive() with { Lr = 3e-3, Epochs = 10, Heads = 2, Device = "cpu" });
        Assert.Equal(1.0, attentive.Top1);
        var positional = ProbeTrainer.Run(raw.Train, raw.Test, ProbeOptions.Attentive(addPositions: true) with { Lr = 3e-3, Epochs = 10, Heads = 2, Device = "cpu" });
        Assert.Equal(1.0, positional.Top1);

        var regression = ProbeTrainer.Run(raw.Train, raw.Test, ProbeOptions.Regression() with { Lr = 3e-2, Epochs = 30, Device = "cpu" });
        Assert.True(regression.Mse < 0.1, $"regression MSE {regression.Mse}");

        // Frozen (randomly initialised) encoder features keep the information too.
        manual_seed(5);
        using var model = new LvMaeModel(Synthetic.TinyConfig(Dim, 32));
        var encoded = ProbeSet.FromEncoder(model, videos, Dim, labels, targets).Split(0.25, seed: 2);
        Assert.NotNull(encoded.Train.Cls);
        var encodedLinear = ProbeTrainer.Run(encoded.Train, encoded.Test, ProbeOptions.Linear() with { Lr = 3e-2, Epochs = 15, Device = "cpu", Standardise = false });
        Assert.Equal(1.0, encodedLinear.Top1);
        // Standardised (the default), a random encoder's near-constant dimensions are blown up to unit variance: 11 of 12 here.
        var standardised = ProbeTrainer.Run(encoded.Train, encoded.Test, ProbeOptions.Linear() with { Lr = 3e-2, Epochs = 15, Device = "cpu" });
        Assert.True(standardised.Top1 >= 11 / 12.0, $"standardised linear probe top-1 {standardised.Top1}");
        var encodedAttentive = ProbeTrainer.Run(encoded.Train, encoded.Test, ProbeOptions.Attentive() with { Lr = 1e-2, Gamma = null, Epochs = 25, Heads = 2, Device = "cpu" });
        Assert.Equal(1.0, encodedAttentive.Top1);
    }

    [Fact]
    public void The_attentive_probe_queries_with_its_own_token_so_a_meaningless_encoder_cls_does_not_scatter_its_attention()
    {
        // The label sits in one token at a random place among noise; the [CLS] is noise, as an MAE's (lossless, near-constant,
        // then standardised) [CLS] is. Used as the query it pointed the attention anywhere; as one more key it is harmless.
        var rng = new Random(3);
        var videos = new List<float[]>();
        var cls = new List<float[]>();
        var labels = new int[64];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = i % 2;
            var video = Synthetic.Video(rng, 12, Dim);
            for (var j = 0; j < video.Length; j++) video[j] *= 0.3f;
            video[rng.Next(12) * Dim] = labels[i] == 0 ? 3f : -3f;
            videos.Add(video);
            cls.Add(Synthetic.Video(rng, 1, Dim));
        }
        var set = new ProbeSet(videos, cls, Dim, labels).Split(0.25, seed: 4);
        var result = ProbeTrainer.Run(set.Train, set.Test, ProbeOptions.Attentive() with { Lr = 3e-3, Epochs = 15, Heads = 2, Device = "cpu" });
        Assert.True(result.Top1 >= 15 / 16.0, $"attentive probe top-1 {result.Top1}");
    }

    [Fact]
    public void Paper_defaults_are_the_published_settings()
    {
        var linear = ProbeOptions.Linear();
        Assert.Equal((1e-4, 0.9, 0.999, 16, 30), (linear.Lr, linear.Beta1, linear.Beta2, linear.BatchSize, linear.Epochs));
        var attentive = ProbeOptions.Attentive();
        Assert.Equal((1e-3, 0.9, 16, 20), (attentive.Lr, attentive.Gamma!.Value, attentive.BatchSize, attentive.Epochs));
        Assert.False(attentive.AddPositions);
    }
}
