using System.Diagnostics;
using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Probing;
using LvMae.Model.Quantization;
using LvMae.Model.Training;
using static TorchSharp.torch;

namespace LvMae.Model.Ablation;

/// <summary>One ablation configuration. <paramref name="Masking"/>: the encoder masking strategy
/// ("random", "semantic", "uniform"), or "adaptive" = random encoder masking with the scorer choosing
/// the decoder's tokens; the non-adaptive rows below a 100% budget decode a random subset (the control).</summary>
public sealed record AblationConfig(string Masking, bool FsqTargets, double DecoderBudget, int MaxTokens)
{
    public DecoderMasking Decoder => Masking == "adaptive" ? DecoderMasking.Adaptive : DecoderBudget >= 1 ? DecoderMasking.All : DecoderMasking.Random;
    public string EncoderMasking => Masking == "adaptive" ? "random" : Masking;
    public string Target => FsqTargets ? "fsq" : "embedding";
}

/// <summary>One row of the table. Probe accuracies are top-1 on the held-out split (null: not run).
/// MsPerStep is the whole step, ScorerMsPerStep the part of it spent training the scorer (adaptive rows).</summary>
public sealed record AblationRow(
    AblationConfig? Config, string Name, double? LinearTop1, double? AttentiveTop1,
    double MsPerStep, long PeakRssBytes, double? FinalLoss, double DecoderTokensPerStep, double ScorerMsPerStep = 0);

public sealed record AblationOptions
{
    public string Preset { get; init; } = "tiny";
    public int Steps { get; init; } = 40;
    public int BatchSize { get; init; } = 8;
    public double Lr { get; init; } = 1e-3;
    /// <summary>Null = the paper's (linear 30, attentive 20).</summary>
    public int? ProbeEpochs { get; init; }
    public double TestFraction { get; init; } = 0.25;
    public int[] FsqLevels { get; init; } = [8, 5, 5, 5];
    public long Seed { get; init; }
    /// <summary>The whole grid (4 x 2 x 3 + the context sweep) instead of the small default.</summary>
    public bool Full { get; init; }
    /// <summary>Context lengths for the cost sweep (full decoder vs 15% adaptive).</summary>
    public int[] ContextTokens { get; init; } = [256, 512, 1024];
    public string Device { get; init; } = "cpu";
}

/// <summary>
/// Trains and probes each configuration on the same videos, split and seeds: masking {random,
/// semantic, uniform, adaptive} x target {embedding, FSQ} x decoder budget {100%, 50%, 15%}, then
/// max tokens {256, 512, 1024} with the full decoder vs a 15% adaptive one (videos tiled to the
/// context so every step really is that long). Reports probe top-1, ms/step (mean over steps after
/// the first) and the peak RSS of each run. The FSQ autoencoder is fitted once, on the training split.
/// </summary>
public static class AblationRunner
{
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

    /// <param name="videos">[n_i, dim] row-major raw segment embeddings, one per video.</param>
    /// <param name="onRow">Called as each row completes (progress).</param>
    public static IReadOnlyList<AblationRow> Run(IReadOnlyList<float[]> videos, int dim, int[] labels, AblationOptions options, Action<AblationRow>? onRow = null)
    {
        if (videos.Count != labels.Length) throw new ArgumentException("one label per video");
        var probeSplit = ProbeSet.Raw(videos, dim, labels).Split(options.TestFraction, (int)options.Seed);
        var trainIds = TrainIndices(labels, options);
        var trainVideos = trainIds.Select(i => videos[i]).ToList();
        var rows = new List<AblationRow>();
        void Add(AblationRow row) { rows.Add(row); onRow?.Invoke(row); }

        Add(new AblationRow(null, "raw embeddings (no pre-training; attentive probe with positions)", Probe(probeSplit, ProbeOptions.Linear(), options), Probe(probeSplit, ProbeOptions.Attentive(addPositions: true), options), 0, 0, null, 0));

        var configs = Grid(options);
        FsqAutoencoder? fsq = null;
        if (configs.Any(c => c.FsqTargets))
        {
            var (model, loss, usage) = FsqAutoencoder.Fit(trainVideos, dim, new FsqOptions { Levels = options.FsqLevels, Seed = options.Seed }, TorchDevice.Resolve(options.Device));
            fsq = model;
            Add(new AblationRow(null, $"FSQ [{string.Join(",", options.FsqLevels)}]: {usage.Used}/{usage.CodebookSize} codes used ({usage.Fraction:P1}), perplexity {usage.Perplexity:F1}", null, null, 0, 0, loss, 0));
        }
        try
        {
            foreach (var config in configs)
            {
                Add(RunOne(config, videos, trainVideos, dim, labels, fsq, options));
                // Drain finalizers between runs: an ablation makes many short-lived TorchSharp objects, and
                // we saw rare (2 in 4 runs) native crashes with a garbage Scalar inside Adam.step, which
                // looks like a finalizer freeing an implicit Scalar during the native call.
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
        finally { fsq?.Dispose(); }
        return rows;
    }

    private static int[] TrainIndices(int[] labels, AblationOptions options)
    {
        // The same stratified split ProbeSet.Split draws: pre-train on the probe's training videos only.
        var indexed = new ProbeSet(Enumerable.Range(0, labels.Length).Select(i => new float[] { i }).ToList(), null, 1, labels);
        return indexed.Split(options.TestFraction, (int)options.Seed).Train.Tokens.Select(t => (int)t[0]).ToArray();
    }

    private static AblationRow RunOne(AblationConfig config, IReadOnlyList<float[]> videos, List<float[]> trainVideos, int dim, int[] labels, FsqAutoencoder? fsq, AblationOptions options)
    {
        var name = $"{config.Masking} / {config.Target} / {config.DecoderBudget:P0} / {config.MaxTokens}";
        var sweep = config.MaxTokens > 256;
        // Context-sweep rows train on full-length windows of videos tiled to the context.
        var source = sweep ? trainVideos.Select(v => Tile(v, dim, config.MaxTokens)).ToList() : trainVideos;
        var windows = sweep
            ? new DurationWindowOptions { MaxTokens = config.MaxTokens, MinSeconds = config.MaxTokens * 5, MaxSeconds = config.MaxTokens * 5 }
            : new DurationWindowOptions { MaxTokens = config.MaxTokens, MaxSeconds = config.MaxTokens * 5 };
        var trainerOptions = new TrainerOptions
        {
            Model = MaeConfig.FromPreset(options.Preset, dim, config.MaxTokens),
            Masking = config.EncoderMasking, AbsoluteLr = options.Lr, WarmupSteps = Math.Max(1, options.Steps / 10),
            TotalSteps = options.Steps, ClipGradNorm = 1.0, Seed = options.Seed, BatchSize = options.BatchSize,
        };
        var adaptive = new AdaptiveOptions { DecoderMasking = config.Decoder, DecoderBudget = Math.Min(1, config.DecoderBudget), FsqTargets = config.FsqTargets };

        var memory = PeakMemory.Track();
        using var trainer = new Trainer(trainerOptions with { Adaptive = adaptive }, options.Device, fsq: config.FsqTargets ? fsq : null);
        var rng = new Random((int)options.Seed + 1);
        double ms = 0, scorerMs = 0, loss = double.NaN, decoded = 0;
        for (var step = 0; step < options.Steps; step++)
        {
            var pick = Enumerable.Range(0, options.BatchSize).Select(_ => source[rng.Next(source.Count)]).ToList();
            var batch = EmbeddingBatch.FromVideos(pick, dim, windows, rng);
            var result = trainer.Step(batch);
            if (step > 0 || options.Steps == 1) { ms += result.Elapsed.TotalMilliseconds; scorerMs += trainer.LastScorerTime.TotalMilliseconds; decoded += result.MaskedTokens; }
            loss = result.Loss;
        }
        var measured = Math.Max(1, options.Steps - 1);
        var peak = memory.PeakBytes;
        memory.Dispose();   // training only: no sampler thread while probing
        var split = ProbeSet.FromEncoder(trainer.Model, videos, dim, labels).Split(options.TestFraction, (int)options.Seed);
        return new AblationRow(config, name, Probe(split, ProbeOptions.Linear(), options), Probe(split, ProbeOptions.Attentive(), options),
            ms / measured, peak, loss, decoded / measured, scorerMs / measured);
    }

    /// <summary>The paper's probe settings on standardised inputs, as the demo runs them (an epoch override for quick runs).</summary>
    private static double? Probe((ProbeSet Train, ProbeSet Test) split, ProbeOptions probe, AblationOptions options) =>
        ProbeTrainer.Run(split.Train, split.Test, probe with { Epochs = options.ProbeEpochs ?? probe.Epochs, Seed = options.Seed, Device = options.Device }).Top1;

    private static float[] Tile(float[] video, int dim, int tokens)
    {
        var n = video.Length / dim;
        if (n >= tokens) return video;
        var tiled = new float[tokens * dim];
        for (var j = 0; j < tokens; j++) Array.Copy(video, (j % n) * dim, tiled, j * dim, dim);
        return tiled;
    }
}
