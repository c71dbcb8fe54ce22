using TorchSharp;
using static TorchSharp.torch;

namespace LvMae.Model.Probing;

public enum ProbeKind { Linear, Attentive, Regression }

/// <summary>Probe settings; the factory defaults are the paper's (BRIEF section 1).</summary>
public sealed record ProbeOptions
{
    public ProbeKind Kind { get; init; } = ProbeKind.Linear;
    public int Epochs { get; init; } = 30;
    public int BatchSize { get; init; } = 16;
    public double Lr { get; init; } = 1e-4;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    /// <summary>ExponentialLR gamma per epoch; null = constant lr.</summary>
    public double? Gamma { get; init; }
    /// <summary>Attention heads of the attentive probe's block (must divide the feature width).</summary>
    public int Heads { get; init; } = 8;
    /// <summary>Attentive probe only: add sin-cos positions to the tokens (stronger raw baseline).</summary>
    public bool AddPositions { get; init; }
    /// <summary>Z-score every input dimension with the train set's statistics first (MAE's linear probe puts a
    /// non-affine BatchNorm before its head for the same reason: frozen features have arbitrary scales).</summary>
    public bool Standardise { get; init; } = true;
    public long Seed { get; init; }
    public string Device { get; init; } = "auto";

    /// <summary>Table 6: Adam lr 1e-4, betas (0.9, 0.999), batch 16, 30 epochs, cross-entropy.</summary>
    public static ProbeOptions Linear() => new();
    /// <summary>Table 7: Adam lr 1e-3, ExponentialLR 0.9, batch 16, 20 epochs.</summary>
    public static ProbeOptions Attentive(bool addPositions = false) => new() { Kind = ProbeKind.Attentive, Epochs = 20, Lr = 1e-3, Gamma = 0.9, AddPositions = addPositions };
    /// <summary>Regressor on the global average pool, MSE; the linear probe's optimiser settings.</summary>
    public static ProbeOptions Regression() => new() { Kind = ProbeKind.Regression };
}

/// <param name="Top1">Held-out top-1 accuracy (classification), else null.</param>
/// <param name="Mse">Held-out mean squared error (regression, in the targets' units squared), else null.</param>
public sealed record ProbeResult(ProbeKind Kind, double? Top1, double? Mse, double FinalTrainLoss, int TrainCount, int TestCount, int[] Predictions)
{
    /// <summary>The same scores on a validation set, when one was given.</summary>
    public double? ValTop1 { get; init; }
    public double? ValMse { get; init; }
    public int ValCount { get; init; }
}

/// <summary>Trains a probe on frozen features and scores it on a held-out set (and a validation set when given).</summary>
public static class ProbeTrainer
{
    public static ProbeResult Run(ProbeSet train, ProbeSet test, ProbeOptions options, ProbeSet? validation = null)
    {
        var device = TorchDevice.Resolve(options.Device);
        var regression = options.Kind == ProbeKind.Regression;
        if (regression ? train.Targets is null || test.Targets is null : train.Labels is null || test.Labels is null)
            throw new ArgumentException(regression ? "regression probing needs Targets" : "classification probing needs Labels");
        var classes = regression ? 1 : train.Labels!.Concat(test.Labels!).Concat(validation?.Labels ?? []).Max() + 1;
        // Standardised: features per dimension, and regression targets (a regressor from a near-zero init cannot reach a
        // mean of ~40 s in a few hundred small Adam steps), all with train statistics; MSEs are reported in target units.
        var (targetMean, targetScale) = (0.0, 1.0);
        if (options.Standardise)
        {
            var standardiser = ProbeSet.Standardiser.Fit(train);
            (train, test, validation) = (standardiser.Apply(train), standardiser.Apply(test), validation is null ? null : standardiser.Apply(validation));
            if (regression)
            {
                targetMean = train.Targets!.Average(t => (double)t);
                targetScale = Math.Max(Math.Sqrt(train.Targets!.Average(t => (t - targetMean) * (t - targetMean))), 1e-6);
                (train, test, validation) = (ScaleTargets(train), ScaleTargets(test), validation is null ? null : ScaleTargets(validation));
            }
        }
        ProbeSet ScaleTargets(ProbeSet set) => set with { Targets = set.Targets!.Select(t => (float)((t - targetMean) / targetScale)).ToArray() };

        manual_seed(options.Seed);
        using var probe = Create(options, train.Dim, classes);
        probe.to(device);
        using var optimizer = optim.Adam(probe.parameters(), options.Lr, options.Beta1, options.Beta2);
        var rng = new Random((int)options.Seed);
        double lastLoss = double.NaN;
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            var order = Enumerable.Range(0, train.Count).ToArray();
            rng.Shuffle(order);
            double sum = 0;
            foreach (var chunk in order.Chunk(options.BatchSize))
            {
                sum += TorchGc.Guard(() =>   // no finalizer inside a libtorch call (see TorchGc)
                {
                    using var scope = NewDisposeScope();
                    probe.train();
                    optimizer.zero_grad();
                    var output = Forward(probe, train, chunk, device);
                    var loss = regression
                        ? nn.functional.mse_loss(output.squeeze(-1), tensor(chunk.Select(i => train.Targets![i]).ToArray(), device: device))
                        : nn.functional.cross_entropy(output, tensor(chunk.Select(i => (long)train.Labels![i]).ToArray(), device: device));
                    loss.backward();
                    optimizer.step();
                    return loss.item<float>() * chunk.Length;
                });
            }
            lastLoss = sum / train.Count;
            if (options.Gamma is { } gamma)
                foreach (var group in optimizer.ParamGroups) group.LearningRate *= gamma;
        }

        // Held-out evaluation.
        probe.eval();
        var (top1, mse, predicted) = Evaluate(probe, test, options, classes, device, targetScale);
        var result = new ProbeResult(options.Kind, regression ? null : top1, regression ? mse : null, lastLoss, train.Count, test.Count, regression ? [] : predicted);
        if (validation is null) return result;
        var (valTop1, valMse, _) = Evaluate(probe, validation, options, classes, device, targetScale);
        return result with { ValTop1 = regression ? null : valTop1, ValMse = regression ? valMse : null, ValCount = validation.Count };
    }

    /// <summary>Top-1 and predicted classes (classification) or MSE in target units (regression) on one set.</summary>
    private static (double Top1, double Mse, int[] Predicted) Evaluate(ProbeHead probe, ProbeSet set, ProbeOptions options, int classes, Device device, double targetScale)
    {
        var predictions = new List<float[]>();
        foreach (var chunk in Enumerable.Range(0, set.Count).Chunk(options.BatchSize))
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var output = TorchGc.Guard(() => Forward(probe, set, chunk, device).to(CPU).contiguous().data<float>().ToArray()); // no finalizer inside a libtorch call (see TorchGc)
            for (var i = 0; i < chunk.Length; i++) predictions.Add(output.AsSpan(i * classes, classes).ToArray());
        }
        if (options.Kind == ProbeKind.Regression)
            return (double.NaN, predictions.Select((p, i) => Math.Pow((p[0] - set.Targets![i]) * targetScale, 2)).DefaultIfEmpty(double.NaN).Average(), []);
        var predicted = predictions.Select(p => Array.IndexOf(p, p.Max())).ToArray();
        return (predicted.Select((p, i) => p == set.Labels![i] ? 1.0 : 0.0).DefaultIfEmpty(double.NaN).Average(), double.NaN, predicted);
    }

    private static ProbeHead Create(ProbeOptions options, int dim, int outputs) => options.Kind switch
    {
        ProbeKind.Attentive => new AttentiveProbe(dim, outputs, HeadsFor(dim, options.Heads), options.AddPositions),
        _ => new PooledLinearProbe(dim, outputs),
    };

    /// <summary>The largest head count not above the request that divides the width.</summary>
    private static int HeadsFor(int dim, int requested)
    {
        for (var h = Math.Max(1, requested); h > 1; h--) if (dim % h == 0) return h;
        return 1;
    }

    /// <summary>Pads the chosen samples' features into [B, N, D] + validity (+ [CLS]) and runs the head.</summary>
    private static Tensor Forward(ProbeHead probe, ProbeSet set, int[] indices, Device device)
    {
        var d = set.Dim;
        var n = indices.Max(i => set.Tokens[i].Length / d);
        var data = new float[indices.Length * n * d];
        var valid = new bool[indices.Length * n];
        for (var b = 0; b < indices.Length; b++)
        {
            var tokens = set.Tokens[indices[b]];
            tokens.CopyTo(data, b * n * d);
            for (var j = 0; j < tokens.Length / d; j++) valid[b * n + j] = true;
        }
        Tensor? cls = set.Cls is null ? null : tensor(indices.SelectMany(i => set.Cls[i]).ToArray(), new long[] { indices.Length, d }, device: device);
        return probe.Forward(tensor(data, new long[] { indices.Length, n, d }, device: device), tensor(valid, new long[] { indices.Length, n }, device: device), cls);
    }
}
