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
    public void Paper_defaults_are_the_published_settings()
    {
        var linear = ProbeOptions.Linear();
        Assert.Equal((1e-4, 0.9, 0.999, 16, 30), (linear.Lr, linear.Beta1, linear.Beta2, linear.BatchSize, linear.Epochs));
        var attentive = ProbeOptions.Attentive();
        Assert.Equal((1e-3, 0.9, 16, 20), (attentive.Lr, attentive.Gamma!.Value, attentive.BatchSize, attentive.Epochs));
        Assert.False(attentive.AddPositions);
    }
}
