using LvMae.Contracts;
using LvMae.Model;
using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Probing;
using LvMae.Model.Quantization;
using LvMae.Model.Training;

namespace LvMae.Pipeline.Ablation;

/// <summary>One ablation configuration. <paramref name="Masking"/>: the encoder masking strategy
/// ("random", "semantic", "uniform"), or "adaptive" = random encoder masking with the scorer choosing
/// the decoder's tokens; the non-adaptive rows below a 100% budget decode a random subset (the control).</summary>
public sealed record AblationConfig(string Masking, bool FsqTargets, double DecoderBudget, int MaxTokens)
{
    public DecoderMasking Decoder => Masking == "adaptive" ? DecoderMasking.Adaptive : DecoderBudget >= 1 ? DecoderMasking.All : DecoderMasking.Random;
    public string EncoderMasking => Masking == "adaptive" ? "random" : Masking;
    public string Target => FsqTargets ? "fsq" : "embedding";
}

/// <summary>One video of an ablation: its raw segment embeddings [n, d], its label and its split (<see cref="RunLabels.SplitOf"/>).</summary>
public sealed record AblationVideo(string Id, float[] Embeddings, string Label, SplitRole Role);

/// <summary>One row of the table: the probes' top-1 on the test split (and on val, <see cref="ProbeSummary.ValTop1"/>). For a
/// model's rows (trained, or the same model at step 0) each summary is the mean and sd over the pre-training seeds
/// (<see cref="ProbeSummary.Seeds"/> counts them), each seed's score itself the mean over the probe seeds; for the baselines
/// (no model) over the probe seeds. MsPerStep is the whole step, ScorerMsPerStep the part of it spent training the scorer
/// (adaptive rows); both, the loss and the decoded tokens are means over the pre-training seeds, the peak RSS their maximum.</summary>
public sealed record AblationRow(
    AblationConfig? Config, string Name, ProbeSummary? Linear, ProbeSummary? Attentive,
    double MsPerStep, long PeakRssBytes, double? FinalLoss, double DecoderTokensPerStep, double ScorerMsPerStep = 0, ProbeSummary? AttentivePositions = null)
{
    public double? LinearTop1 => Linear?.Top1;
    public double? AttentiveTop1 => Attentive?.Top1;
}

public sealed record AblationOptions
{
    public string Preset { get; init; } = "tiny";
    /// <summary>Training steps per configuration: the learning bench's 1000 (a few hundred stay in the reconstruction plateau).</summary>
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 8;
    /// <summary>Peak lr; null = the product's default (<see cref="TrainerOptions.DefaultPeakLr"/>).</summary>
    public double? Lr { get; init; }
    /// <summary>Null = the paper's (linear 30, attentive 20).</summary>
    public int? ProbeEpochs { get; init; }
    public int ProbeSeeds { get; init; } = 3;
    public int[] FsqLevels { get; init; } = [8, 5, 5, 5];
    public long Seed { get; init; }
    /// <summary>Pre-training seeds per configuration (Seed, Seed + 1, ...): every trained row and the step-0 row are the mean ± sd over them.</summary>
    public int PretrainSeeds { get; init; } = 3;
    /// <summary>The whole grid (4 x 2 x 3 + the context sweep) instead of the small default.</summary>
    public bool Full { get; init; }
    /// <summary>Context lengths for the cost sweep (full decoder vs 15% adaptive).</summary>
    public int[] ContextTokens { get; init; } = [256, 512, 1024];
    public string Device { get; init; } = "cpu";
}

/// <summary>
/// LVMAE's ablation on one set of embeddings: trains each configuration through the product's training path (the
/// <see cref="Trainer"/> fed by the Dataflow <see cref="TrainingFeed"/>, <see cref="FeedTraining"/>, whole videos, the
/// default schedule) on the train split, once per pre-training seed, and probes each with <see cref="ProbeSuite"/> (linear,
/// attentive, attentive+pos; test and val) on the same splits; a row is the mean ± sd over the pre-training seeds: masking {random, semantic, uniform, adaptive} x target {embedding, FSQ} x decoder budget {100%, 50%,
/// 15%}, then max tokens {256, 512, 1024} with the full decoder vs a 15% adaptive one (videos tiled to the context so every
/// step really is that long). Baselines: the majority class, raw embeddings (linear, attentive, attentive+pos) and the same
/// model at step 0 (over the same pre-training seeds). A setting is chosen on val (<see cref="ProbeSummary.ValTop1"/>), never on test.
/// Reports ms/step (mean over steps after the first) and the peak RSS of each training. The FSQ autoencoder is fitted
/// once, on the train split.
/// </summary>
public static class AblationRunner
{
    private const string Encoder = "ablation";
    /// <summary>The row of the model untrained (step 0).</summary>
    public const string UntrainedRow = "LV-MAE untrained (step 0)";

    public static IReadOnlyList<AblationConfig> Grid(AblationOptions options)
    {
        var configs = new List<AblationConfig>();
        if (options.Full)
        {
            foreach (var masking in new[] { "random", "semantic", "uniform", "adaptive" })
                foreach (var fsq in new[] { false, true })
                    foreach (var budget in new[] { 1.0, 0.5, 0.15 })
                        if (!(masking == "adaptive" && budget >= 1)) configs.Add(new(masking, fsq, budget, 256));   // adaptive at 100% = random
        }
        else
        {
            configs.AddRange([new("random", false, 1.0, 256), new("semantic", false, 1.0, 256), new("random", false, 0.15, 256),
                              new("adaptive", false, 0.15, 256), new("adaptive", true, 0.15, 256)]);
        }
        foreach (var tokens in options.Full ? options.ContextTokens : options.ContextTokens.Where(t => t <= 512))
        {
            configs.Add(new("random", false, 1.0, tokens));
            configs.Add(new("adaptive", false, 0.15, tokens));
        }
        return configs.Distinct().ToList();   // the sweep's 256 rows are grid rows already
    }

    /// <param name="onRow">Called as each row completes (progress).</param>
    public static IReadOnlyList<AblationRow> Run(IReadOnlyList<AblationVideo> videos, int dim, AblationOptions options, Action<AblationRow>? onRow = null)
    {
        // Classes are what the probed splits hold: a pre-training-only video (its label empty) is in none of them.
        static bool Probed(AblationVideo v) => v.Role is SplitRole.Train or SplitRole.Val or SplitRole.Test;
        var classes = videos.Where(Probed).Select(v => v.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        int[] Of(SplitRole role) => Enumerable.Range(0, videos.Count).Where(i => videos[i].Role == role).ToArray();
        var task = ProbeTask.Classification("label", videos.Select(v => Probed(v) ? classes.IndexOf(v.Label) : 0).ToArray(), Of(SplitRole.Train), Of(SplitRole.Test), Of(SplitRole.Val));
        if (task.Train.Length == 0 || task.Test.Length == 0) throw new ArgumentException("the ablation needs train and test videos (the 'split' label, or 1 in 5 held out by id)");
        var settings = new ProbeSettings { Seeds = options.ProbeSeeds, Seed = options.Seed, Epochs = options.ProbeEpochs, Device = options.Device };
        var trainVideos = videos.Where(v => v.Role is SplitRole.Train or SplitRole.Pretrain).ToList();   // pre-training: train + unlabelled
        var rows = new List<AblationRow>();
        void Add(AblationRow row) { rows.Add(row); onRow?.Invoke(row); }

        var raw = ProbeSet.Raw(videos.Select(v => v.Embeddings).ToList(), dim);
        Add(new AblationRow(null, "majority baseline", ProbeSuite.Majority(task), null, 0, 0, null, 0));
        Add(new AblationRow(null, "raw embeddings (no pre-training)", ProbeSuite.Run(raw, task, ProbeSuite.Linear, settings), ProbeSuite.Run(raw, task, ProbeSuite.Attentive, settings), 0, 0, null, 0));
        Add(new AblationRow(null, "raw embeddings, attentive probe with positions", null, ProbeSuite.Run(raw, task, ProbeSuite.AttentivePositions, settings), 0, 0, null, 0));
        // What every configuration starts from: the preset's weights for each pre-training seed (masking, targets and budget
        // do not change them), so training that ends below it shows.
        var untrained = Seeds(options).Select(seed =>
        {
            using var model = new LvMaeModel(MaeConfig.FromPreset(options.Preset, dim), seed);
            return Probes(ProbeSet.FromEncoder(model, videos.Select(v => v.Embeddings).ToList(), dim), task, settings);
        }).ToList();
        Add(new AblationRow(null, UntrainedRow, OverSeeds(untrained, p => p.Linear), OverSeeds(untrained, p => p.Attentive), 0, 0, null, 0,
            AttentivePositions: OverSeeds(untrained, p => p.AttentivePositions)));

        var configs = Grid(options);
        FsqAutoencoder? fsq = null;
        if (configs.Any(c => c.FsqTargets))
        {
            var (model, loss, usage) = FsqAutoencoder.Fit(trainVideos.Select(v => v.Embeddings).ToList(), dim, new FsqOptions { Levels = options.FsqLevels, Seed = options.Seed }, TorchDevice.Resolve(options.Device));
            fsq = model;
            Add(new AblationRow(null, $"FSQ [{string.Join(",", options.FsqLevels)}]: {usage.Used}/{usage.CodebookSize} codes used ({usage.Fraction:P1}), perplexity {usage.Perplexity:F1}", null, null, 0, 0, loss, 0));
        }
        try
        {
            foreach (var config in configs)
                Add(OverSeeds(config, Seeds(options).Select(seed => RunOne(config, videos, trainVideos, dim, task, settings, fsq, options with { Seed = seed })).ToList()));
        }
        finally { fsq?.Dispose(); }
        return rows;
    }

    private static AblationRow RunOne(AblationConfig config, IReadOnlyList<AblationVideo> videos, IReadOnlyList<AblationVideo> trainVideos, int dim,
        ProbeTask task, ProbeSettings settings, FsqAutoencoder? fsq, AblationOptions options)
    {
        var name = $"{config.Masking} / {config.Target} / {config.DecoderBudget:P0} / {config.MaxTokens}";
        // Context-sweep rows train on full-length windows of videos tiled to the context; the others on whole videos.
        var sweep = config.MaxTokens > 256;
        var loader = new InMemoryEmbeddingLoader();
        foreach (var v in trainVideos)
        {
            var data = sweep ? Tile(v.Embeddings, dim, config.MaxTokens) : v.Embeddings;
            loader.Add(new LoadedEmbeddings(v.Id, data, data.Length / dim, dim));
        }
        var source = new InMemoryEmbeddedVideoSource(trainVideos.Select(v => new EmbeddedVideoDescriptor(v.Id, Encoder)));
        // The settings a training run with these options would have, through the same route (RunSettings): whole videos,
        // the default schedule, the masking, decoder and targets of the row.
        var run = RunConfig(config, options);
        RunSettings.Validate(run);
        var feedOptions = RunSettings.FeedOptions(run, dim, start: default);
        var trainerOptions = RunSettings.TrainerOptions(run, dim, options.Steps);

        var memory = PeakMemory.Track();
        using var trainer = new Trainer(trainerOptions, options.Device, fsq: config.FsqTargets ? fsq : null);
        double ms = 0, scorerMs = 0, loss = double.NaN, decoded = 0;
        using (var cancel = new CancellationTokenSource())
        {
            var feed = TrainingFeed.Start(source, loader, feedOptions, cancellationToken: cancel.Token);
            try
            {
                FeedTraining.Run(trainer, feed, options.Steps, default, (result, _) =>
                {
                    if (result.Step > 1 || options.Steps == 1)
                    {
                        ms += result.Elapsed.TotalMilliseconds;
                        scorerMs += trainer.LastScorerTime.TotalMilliseconds;
                        decoded += result.MaskedTokens;
                    }
                    loss = result.Loss;
                    return true;
                }, cancel.Token);
            }
            finally
            {
                feed.Cancel();
                feed.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        var measured = Math.Max(1, options.Steps - 1);
        var peak = memory.PeakBytes;
        memory.Dispose();   // training only: no sampler thread while probing
        var probes = Probes(ProbeSet.FromEncoder(trainer.Model, videos.Select(v => v.Embeddings).ToList(), dim), task, settings);
        return new AblationRow(config, name, probes.Linear, probes.Attentive, ms / measured, peak, loss, decoded / measured, scorerMs / measured, probes.AttentivePositions);
    }

    /// <summary>The training run config of one row and pre-training seed (<see cref="RunSettings"/> turns it into the trainer's
    /// and the feed's options, as for `lvmae train`).</summary>
    public static TrainingRunConfig RunConfig(AblationConfig config, AblationOptions options) => new()
    {
        Encoder = Encoder, Preset = options.Preset, Masking = config.EncoderMasking, Steps = options.Steps, BatchSize = options.BatchSize,
        Seed = (int)options.Seed, MaxTokens = config.MaxTokens, Lr = options.Lr, Window = TrainingRunConfig.WholeWindow,
        DecoderMasking = config.Decoder.ToString().ToLowerInvariant(), DecoderBudget = Math.Min(1, config.DecoderBudget),
        Targets = config.Target, FsqLevels = options.FsqLevels, Device = options.Device,
    };

    private static IEnumerable<long> Seeds(AblationOptions options) => Enumerable.Range(0, Math.Max(1, options.PretrainSeeds)).Select(i => options.Seed + i);

    private sealed record ModelProbes(ProbeSummary Linear, ProbeSummary Attentive, ProbeSummary AttentivePositions);

    /// <summary>The probes a run's checkpoint gets (<see cref="ProbeSuite.DefaultProbes"/>: linear, attentive, attentive+pos),
    /// on the same probe seeds.</summary>
    private static ModelProbes Probes(ProbeSet features, ProbeTask task, ProbeSettings settings)
    {
        var scores = ProbeSuite.DefaultProbes(task, raw: false).ToDictionary(p => p, p => ProbeSuite.Run(features, task, p, settings));
        return new(scores[ProbeSuite.Linear], scores[ProbeSuite.Attentive], scores[ProbeSuite.AttentivePositions]);
    }

    /// <summary>One probe's scores over the pre-training seeds: mean and sample sd of the seeds' test top-1, mean val top-1.</summary>
    private static ProbeSummary OverSeeds(IReadOnlyList<ModelProbes> perSeed, Func<ModelProbes, ProbeSummary> probe)
    {
        var scores = perSeed.Select(probe).ToList();
        return scores[0] with
        {
            Top1 = scores.Select(s => s.Top1).OfType<double>().DefaultIfEmpty(double.NaN).Average() is var t && double.IsNaN(t) ? null : t,
            Top1Sd = ProbeSuite.Sd(scores.Select(s => s.Top1)),
            ValTop1 = scores.Select(s => s.ValTop1).OfType<double>().DefaultIfEmpty(double.NaN).Average() is var v && double.IsNaN(v) ? null : v,
            Seeds = scores.Count,
        };
    }

    /// <summary>A configuration's row over its pre-training seeds (<see cref="AblationRow"/>).</summary>
    private static AblationRow OverSeeds(AblationConfig config, IReadOnlyList<AblationRow> perSeed)
    {
        var probes = perSeed.Select(r => new ModelProbes(r.Linear!, r.Attentive!, r.AttentivePositions!)).ToList();
        return new AblationRow(config, perSeed[0].Name, OverSeeds(probes, p => p.Linear), OverSeeds(probes, p => p.Attentive),
            perSeed.Average(r => r.MsPerStep), perSeed.Max(r => r.PeakRssBytes), perSeed.Average(r => r.FinalLoss ?? double.NaN),
            perSeed.Average(r => r.DecoderTokensPerStep), perSeed.Average(r => r.ScorerMsPerStep), OverSeeds(probes, p => p.AttentivePositions));
    }

    private static float[] Tile(float[] video, int dim, int tokens)
    {
        var n = video.Length / dim;
        if (n >= tokens) return video;
        var tiled = new float[tokens * dim];
        for (var j = 0; j < tokens; j++) Array.Copy(video, (j % n) * dim, tiled, j * dim, dim);
        return tiled;
    }
}
