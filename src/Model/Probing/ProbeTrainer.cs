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
/// <param name="Mse">Held-out mean squared error (regression), else null.</param>
public sealed record ProbeResult(ProbeKind Kind, double? Top1, double? Mse, double FinalTrainLoss, int TrainCount, int TestCount, int[] Predictions);

/// <summary>Trains a probe on frozen features and scores it on a held-out set.</summary>
public static class ProbeTrainer
{
    public static ProbeResult Run(ProbeSet train, ProbeSet test, ProbeOptions options)
    {
        var device = TorchDevice.Resolve(options.Device);
        var regression = options.Kind == ProbeKind.Regression;
        if (regression ? train.Targets is null || test.Targets is null : train.Labels is null || test.Labels is null)
            throw new ArgumentException(regression ? "regression probing needs Targets" : "classification probing needs Labels");
        var classes = regression ? 1 : train.Labels!.Concat(test.Labels!).Max() + 1;
        if (options.Standardise) (train, test) = ProbeSet.Standardise(train, test);

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
        var predictions = new List<float[]>();
        foreach (var chunk in Enumerable.Range(0, test.Count).Chunk(options.BatchSize))
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var output = Forward(probe, test, chunk, device).to(CPU).contiguous();
            var rows = output.data<float>().ToArray();
            for (var i = 0; i < chunk.Length; i++) predictions.Add(rows.AsSpan(i * classes, classes).ToArray());
        }
        if (regression)
        {
            var mse = predictions.Select((p, i) => Math.Pow(p[0] - test.Targets![i], 2)).DefaultIfEmpty(double.NaN).Average();
            return new ProbeResult(options.Kind, null, mse, lastLoss, train.Count, test.Count, []);
        }
        var predicted = predictions.Select(p => Array.IndexOf(p, p.Max())).ToArray();
        var top1 = predicted.Select((p, i) => p == test.Labels![i] ? 1.0 : 0.0).DefaultIfEmpty(double.NaN).Average();
        return new ProbeResult(options.Kind, top1, null, lastLoss, train.Count, test.Count, predicted);
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
