using System.Diagnostics;
using LvMae.Model;
using LvMae.Model.Masking;
using LvMae.Model.Probing;
using LvMae.Model.Retrieval;
using LvMae.Model.Training;
using LvMae.Pipeline;

namespace LvMae.Demo;

/// <summary>One corpus video with its segment embeddings (as loaded from blob storage) and its ground truth.</summary>
/// <param name="Id">The corpus id (syn0001 ...).</param>
/// <param name="VideoId">The video's id in the system (its content hash).</param>
/// <param name="Embeddings">[Segments, dim] row-major, raw encoder outputs.</param>
/// <param name="Labels">Label column -> value (classification columns).</param>
/// <param name="SegmentSteps">True step of each segment.</param>
public sealed record DemoVideo(
    string Id, string VideoId, string Split, float[] Embeddings, int Segments,
    IReadOnlyDictionary<string, string> Labels, double KeyStepSeconds, IReadOnlyList<string> SegmentSteps)
{
    public bool IsTest => Split == "test";
}

/// <summary>
/// The experiment on loaded embeddings: pre-train one LV-MAE model per masking strategy (src/Model's Trainer, batches
/// from src/Pipeline's TrainingFeed over the embedding blobs), probe raw embeddings and LV-MAE features on the corpus's
/// train/test split, and retrieve captions for reconstructed segments. Each training runs on its own dedicated thread
/// (TorchSharp dispose scopes are per thread).
/// </summary>
public static class DemoExperiment
{
    public const string RegressionColumn = "key_step_seconds";

    /// <summary>Pre-trains one model; <paramref name="onStep"/> sees every step. The caller owns (disposes) the trainer.</summary>
    public static Task<(Trainer Trainer, TrainingCurve Curve)> TrainAsync(
        IReadOnlyList<DemoVideo> train, int dim, string masking, DemoOptions options, string encoder, IEmbeddingLoader loader,
        Action<StepResult>? onStep, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<(Trainer, TrainingCurve)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { completion.SetResult(Train(train, dim, masking, options, encoder, loader, onStep, cancellationToken)); }
            catch (OperationCanceledException e) { completion.TrySetCanceled(e.CancellationToken); }
            catch (Exception e) { completion.TrySetException(e); }
        }) { IsBackground = true, Name = $"lvmae-demo-train-{masking}" };
        thread.Start();
        return completion.Task;
    }

    private static (Trainer, TrainingCurve) Train(
        IReadOnlyList<DemoVideo> train, int dim, string masking, DemoOptions options, string encoder, IEmbeddingLoader loader,
        Action<StepResult>? onStep, CancellationToken cancellationToken)
    {
        var trainerOptions = new TrainerOptions
        {
            Model = MaeConfig.FromPreset(options.Preset, dim),
            Masking = masking,
            MaskRatio = options.MaskRatio,
            AbsoluteLr = options.LearningRate,
            BatchSize = options.BatchSize,
            WarmupSteps = (long)Math.Round(options.Steps * options.WarmupFraction),
            TotalSteps = options.Steps,
            Seed = options.Seed,
            TorchThreads = options.TorchThreads,
        };
        var trainer = new Trainer(trainerOptions, "cpu");
        var source = new InMemoryEmbeddedVideoSource(train.Select(v => new EmbeddedVideoDescriptor(v.VideoId, encoder, v.Segments, dim)));
        var feedOptions = new TrainingFeedOptions
        {
            Encoder = encoder,
            Dimension = dim,
            Seed = options.Seed,
            Epochs = null,
            MaxBatchSize = options.BatchSize,
            TokenBudget = options.BatchSize * trainerOptions.Model.MaxTokens,
            Window = new LvMae.Model.Data.DurationWindowOptions { MaxTokens = trainerOptions.Model.MaxTokens },
            LoadParallelism = 2,
        };
        var steps = new List<long>();
        var losses = new List<double>();
        var watch = Stopwatch.StartNew();
        try
        {
            var feed = TrainingFeed.Start(source, loader, feedOptions, cancellationToken: cancellationToken);
            try
            {
                foreach (var batch in feed.ReadAllBlocking(cancellationToken))
                {
                    var embeddingBatch = batch.ToEmbeddingBatch();
                    // Trainer.Step allows no GC inside (TorchGc); a libtorch error in forward/backward is still retried once on the same batch.
                    var result = TorchGuard.RetryOnce(() => trainer.Step(embeddingBatch), e => Retried(masking, e));
                    steps.Add(result.Step);
                    losses.Add(result.Loss);
                    onStep?.Invoke(result);
                    if (trainer.StepCount >= options.Steps) break;
                }
            }
            finally
            {
                feed.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        catch
        {
            trainer.Dispose();
            throw;
        }
        return (trainer, new TrainingCurve(masking, steps.ToArray(), losses.ToArray(), watch.Elapsed, trainer.TokensSeen));
    }

    private static readonly List<string> s_retries = [];

    /// <summary>libtorch errors retried so far (see <see cref="TorchGuard"/>), for the report's notes.</summary>
    public static IReadOnlyList<string> Retries { get { lock (s_retries) return s_retries.ToList(); } }

    private static void Retried(string what, Exception e)
    {
        lock (s_retries) s_retries.Add($"{what}: {e.Message.Split('\n')[0]}");
    }

    /// <summary>The probe settings the demo uses, from the paper's defaults and the options.</summary>
    public static ProbeOptions ProbeSettings(string probe, DemoOptions options, int seed)
    {
        var o = probe switch
        {
            "linear" => ProbeOptions.Linear(),
            "regression" => ProbeOptions.Regression(),
            "attentive" => ProbeOptions.Attentive(),
            "attentive+pos" => ProbeOptions.Attentive(addPositions: true),
            _ => throw new ArgumentException($"unknown probe '{probe}'"),
        };
        o = o with { Seed = seed, Device = "cpu", Standardise = options.StandardiseFeatures };
        if (o.Kind == ProbeKind.Attentive)
            return options.AttentiveProbeEpochs is { } ae ? o with { Epochs = ae } : o;
        o = options.LinearProbeEpochs is { } le ? o with { Epochs = le } : o;
        return options.LinearProbeLr is { } lr ? o with { Lr = lr } : o;
    }

    public static string DescribeProbes(DemoOptions options)
    {
        var l = ProbeSettings("linear", options, 0);
        var a = ProbeSettings("attentive", options, 0);
        return $"linear/regression Adam lr {l.Lr:g3}, {l.Epochs} epochs; attentive Adam lr {a.Lr:g3}, gamma {a.Gamma}, {a.Epochs} epochs; batch {l.BatchSize}" +
               (options.StandardiseFeatures ? "; inputs standardised per dimension with train statistics" : "");
    }

    /// <summary>
    /// Every probe row for one feature set: linear (+ the regression probe on the regression column) and attentive, and for raw
    /// embeddings also attentive+pos. <paramref name="train"/>/<paramref name="test"/> are the corpus split's features.
    /// </summary>
    public static IReadOnlyList<ProbeRow> Probe(
        string features, string? masking, ProbeSet train, ProbeSet test,
        IReadOnlyList<DemoVideo> trainVideos, IReadOnlyList<DemoVideo> testVideos, IReadOnlyList<LabelColumn> columns,
        DemoOptions options, Action<string>? onProbe = null, CancellationToken cancellationToken = default)
    {
        var probes = features == "raw" ? new[] { "linear", "attentive", "attentive+pos" } : new[] { "linear", "attentive" };
        var rows = new List<ProbeRow>();
        foreach (var probe in probes)
        {
            var cells = new List<ProbeCell>();
            foreach (var column in columns)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (column.IsRegression)
                {
                    if (probe != "linear") continue;
                    onProbe?.Invoke($"{features} {masking} regression {column.Column}");
                    cells.Add(Regress(train, test, trainVideos, testVideos, options));
                    continue;
                }
                onProbe?.Invoke($"{features} {masking} {probe} {column.Column}");
                var trLabels = trainVideos.Select(v => LabelIndex(column, v)).ToArray();
                var teLabels = testVideos.Select(v => LabelIndex(column, v)).ToArray();
                var scores = new List<double>();
                for (var s = 0; s < options.ProbeSeeds; s++)
                {
                    var settings = ProbeSettings(probe, options, options.Seed + 1000 * s);
                    var result = TorchGuard.RetryOnce(() => ProbeTrainer.Run(train with { Labels = trLabels }, test with { Labels = teLabels }, settings), e => Retried(probe, e));
                    scores.Add(result.Top1 ?? double.NaN);
                }
                cells.Add(new ProbeCell(column.Column, scores.Average(), Std(scores), null, scores.Count));
            }
            rows.Add(new ProbeRow(features, masking, probe, cells));
        }
        return rows;
    }

    private static ProbeCell Regress(ProbeSet train, ProbeSet test, IReadOnlyList<DemoVideo> trainVideos, IReadOnlyList<DemoVideo> testVideos, DemoOptions options)
    {
        // Targets standardised with train statistics (a regressor from a zero-ish init cannot reach a mean of ~40 s in a few
        // hundred small Adam steps); the MSE is reported back in seconds².
        var y = trainVideos.Select(v => v.KeyStepSeconds).ToArray();
        var mean = y.Average();
        var sd = Math.Max(Std(y), 1e-6);
        float Z(double v) => (float)((v - mean) / sd);
        var mses = new List<double>();
        for (var s = 0; s < options.ProbeSeeds; s++)
        {
            var settings = ProbeSettings("regression", options, options.Seed + 1000 * s);
            var result = TorchGuard.RetryOnce(() => ProbeTrainer.Run(
                train with { Targets = trainVideos.Select(v => Z(v.KeyStepSeconds)).ToArray() },
                test with { Targets = testVideos.Select(v => Z(v.KeyStepSeconds)).ToArray() },
                settings), e => Retried("regression", e));
            mses.Add((result.Mse ?? double.NaN) * sd * sd);
        }
        return new ProbeCell(RegressionColumn, null, null, mses.Average(), mses.Count);
    }

    public static int LabelIndex(LabelColumn column, DemoVideo video)
    {
        var value = video.Labels[column.Column];
        var index = column.Classes.ToList().IndexOf(value);
        return index >= 0 ? index : throw new InvalidDataException($"{video.Id}: {column.Column} '{value}' is not one of {string.Join(", ", column.Classes)}");
    }

    public static double Std(IReadOnlyList<double> xs)
    {
        if (xs.Count < 2) return 0;
        var m = xs.Average();
        return Math.Sqrt(xs.Sum(x => (x - m) * (x - m)) / (xs.Count - 1));
    }

    /// <summary>
    /// Caption index over the step names: each caption's embedding is the mean of the L2-normalised embeddings of that
    /// step's segments in the training videos. Steps are ordered by name.
    /// </summary>
    public static CaptionIndex Captions(IReadOnlyList<DemoVideo> train, int dim)
    {
        var sums = new SortedDictionary<string, (double[] Sum, int Count)>(StringComparer.Ordinal);
        foreach (var v in train)
            for (var j = 0; j < v.Segments; j++)
            {
                var step = v.SegmentSteps[j];
                if (!sums.TryGetValue(step, out var acc)) acc = (new double[dim], 0);
                var row = v.Embeddings.AsSpan(j * dim, dim);
                double norm = 0;
                foreach (var x in row) norm += x * x;
                var scale = 1 / Math.Max(Math.Sqrt(norm), 1e-12);
                for (var k = 0; k < dim; k++) acc.Sum[k] += row[k] * scale;
                sums[step] = (acc.Sum, acc.Count + 1);
            }
        var names = sums.Keys.ToList();
        var data = new float[names.Count * dim];
        for (var c = 0; c < names.Count; c++)
        {
            var (sum, count) = sums[names[c]];
            for (var k = 0; k < dim; k++) data[c * dim + k] = (float)(sum[k] / count);
        }
        return new CaptionIndex(data, names, dim);
    }

    /// <summary>Masks and reconstructs every test video; top-1 retrieval hit rates and a few listed examples.</summary>
    public static RetrievalSummary Retrieve(LvMaeModel model, string masking, IReadOnlyList<DemoVideo> test, CaptionIndex captions, int dim, int exampleVideos, int seed, double? ratio = null, IReadOnlyList<DemoVideo>? train = null)
    {
        var strategy = MaskingStrategies.Create(masking, ratio);
        var rng = new Random(seed);
        int masked = 0, recHits = 0, origHits = 0, copyHits = 0;
        double recCos = 0, copyCos = 0, meanCos = 0;
        var meanEmbedding = MeanEmbedding(train ?? test, dim);
        var examples = new List<RetrievalExample>();
        for (var i = 0; i < test.Count; i++)
        {
            var v = test[i];
            var results = ReconstructionRetrieval.Explain(model, v.Embeddings, dim, captions, strategy, rng, k: 3);
            var maskedPositions = results.Select(r => r.Position).ToHashSet();
            foreach (var r in results)
            {
                var truth = v.SegmentSteps[r.Position];
                masked++;
                if (r.Reconstructed[0].Caption == truth) recHits++;
                if (r.Original[0].Caption == truth) origHits++;
                recCos += r.ReconstructionCosine;
                var original = v.Embeddings.AsSpan(r.Position * dim, dim);
                meanCos += Cosine(original, meanEmbedding);
                if (NearestVisible(r.Position, v.Segments, maskedPositions) is { } n)
                {
                    var neighbour = v.Embeddings.AsSpan(n * dim, dim);
                    copyCos += Cosine(original, neighbour);
                    if (captions.Search(neighbour, 1)[0].Caption == truth) copyHits++;
                }
                if (i < exampleVideos)
                    examples.Add(new RetrievalExample(v.Id, r.Position, truth, r.Original.Select(m => m.Caption).ToList(),
                        r.Reconstructed.Select(m => m.Caption).ToList(), r.ReconstructionCosine));
            }
        }
        double Share(double x) => masked == 0 ? double.NaN : x / masked;
        return new RetrievalSummary(masking, test.Count, masked, Share(recHits), Share(origHits),
            1.0 / captions.Captions.Count, captions.Captions.Count, examples)
        {
            NeighbourCopyHit = Share(copyHits),
            ReconstructionCosine = Share(recCos),
            NeighbourCopyCosine = Share(copyCos),
            MeanEmbeddingCosine = Share(meanCos),
        };
    }

    /// <summary>The visible position nearest to <paramref name="position"/> (the earlier one on a tie), or null when none is visible.</summary>
    public static int? NearestVisible(int position, int length, IReadOnlySet<int> masked)
    {
        for (var d = 1; d < length; d++)
        {
            if (position - d >= 0 && !masked.Contains(position - d)) return position - d;
            if (position + d < length && !masked.Contains(position + d)) return position + d;
        }
        return null;
    }

    private static float[] MeanEmbedding(IReadOnlyList<DemoVideo> videos, int dim)
    {
        var sum = new double[dim];
        foreach (var v in videos)
            for (var j = 0; j < v.Segments; j++)
            {
                var row = v.Embeddings.AsSpan(j * dim, dim);
                double norm = 0;
                foreach (var x in row) norm += x * x;
                var scale = 1 / Math.Max(Math.Sqrt(norm), 1e-12);
                for (var k = 0; k < dim; k++) sum[k] += row[k] * scale;
            }
        return sum.Select(x => (float)x).ToArray();
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return dot / Math.Max(Math.Sqrt(na * nb), 1e-12);
    }
}
