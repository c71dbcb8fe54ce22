using System.Globalization;
using System.Text.Json;
using LvMae.Contracts;
using LvMae.Model;
using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Masking;
using LvMae.Model.Quantization;
using LvMae.Model.Training;
using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>
/// What a <see cref="TrainingRunConfig"/> means: its validation, the model library's options it becomes (defaults
/// resolved), its window, its schedule, and how two configs differ. Pure functions, no I/O. The one route from settings to
/// a <see cref="Trainer"/> and a <see cref="TrainingFeed"/>: training runs (the grains) and `lvmae ablate` both take it.
/// </summary>
public static class RunSettings
{
    /// <summary>The videos a run pre-trains on: the train and pretrain splits of <paramref name="corpus"/> (unlabelled videos
    /// are pretrain), or every video (labels are never read by pre-training) when the run trains on held-out videos too.</summary>
    public static IEmbeddedVideoSource TrainingSource(TrainingRunConfig config, IEmbeddedVideoSource corpus) =>
        config.TrainOnHeldOut ? corpus : new TrainSplitSource(corpus);

    /// <summary>The corpus <paramref name="videos"/> lists now, per split (<see cref="Census(TrainingRunConfig, IEnumerable{EmbeddedVideoDescriptor})"/>).</summary>
    public static async Task<IReadOnlyList<SplitCount>> CensusAsync(TrainingRunConfig config, IEmbeddedVideoSource videos)
    {
        var corpus = new List<EmbeddedVideoDescriptor>();
        await foreach (var video in videos.ListAsync(config.Encoder)) corpus.Add(video);
        return Census(config, corpus);
    }

    /// <summary>Videos and tokens per split of <paramref name="corpus"/> (train, pretrain, val, test; empty splits left out)
    /// and whether this run pre-trains on them (<see cref="TrainingSource"/>'s rule).</summary>
    public static IReadOnlyList<SplitCount> Census(TrainingRunConfig config, IEnumerable<EmbeddedVideoDescriptor> corpus)
    {
        var bySplit = corpus.GroupBy(v => RunLabels.SplitOf(v.VideoId, v.Labels)).ToDictionary(g => g.Key, g => (Videos: (long)g.Count(), Tokens: g.Sum(v => (long)v.SegmentCount)));
        return new[] { SplitRole.Train, SplitRole.Pretrain, SplitRole.Val, SplitRole.Test }.Where(bySplit.ContainsKey)
            .Select(role => new SplitCount
            {
                Split = role.ToString().ToLowerInvariant(), Videos = bySplit[role].Videos, Tokens = bySplit[role].Tokens,
                PreTrained = config.TrainOnHeldOut || role is SplitRole.Train or SplitRole.Pretrain,
            }).ToList();
    }

    /// <summary>The ratio the run masks with: its own, else <see cref="TrainingRunConfig.DefaultRandomMaskRatio"/> for random masking, else
    /// the strategy's default (null).</summary>
    public static double? MaskRatio(TrainingRunConfig config) =>
        config.MaskRatio ?? (config.Masking.Equals("random", StringComparison.OrdinalIgnoreCase) ? TrainingRunConfig.DefaultRandomMaskRatio : null);

    /// <summary>The run's architecture: its preset at the corpus' embedding width with its model settings applied.</summary>
    public static MaeConfig Model(TrainingRunConfig config, int dim) =>
        MaeConfig.FromPreset(config.Preset, dim, config.MaxTokens).WithOverrides(config.ModelSettings);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public static void Validate(TrainingRunConfig c)
    {
        if (!MaeConfig.PresetNames.Contains(c.Preset.ToLowerInvariant())) throw new ArgumentException($"unknown preset '{c.Preset}' (use {string.Join(", ", MaeConfig.PresetNames)})");
        // Names, types and the widths of projected presets are checked here; a preset of the embedding's width (base, paper)
        // is checked against its heads when the run starts and knows the width.
        Model(c, 512);
        MaskingStrategies.Create(c.Masking, c.MaskRatio); // throws ArgumentException for an unknown strategy or ratio
        if (DecoderSelection.Parse(c.DecoderMasking) != DecoderMasking.All && c.DecoderBudget is <= 0 or > 1)
            throw new ArgumentException($"decoder budget {c.DecoderBudget} is not a fraction in (0, 1]");
        if (!(IsFsq(c) || c.Targets.Equals("embedding", StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException($"unknown targets '{c.Targets}' (use embedding or fsq)");
        // Fsq throws ArgumentException for bad levels; the code head is d x codebook, so keep the codebook sane.
        if (IsFsq(c) && new Fsq(c.FsqLevels.ToArray()).CodebookSize > 1 << 16)
            throw new ArgumentException($"FSQ levels [{string.Join(",", c.FsqLevels)}] give more than 65536 codes");
        if (c.Steps is <= 0) throw new ArgumentException("steps must be positive");
        if (c.Epochs is <= 0) throw new ArgumentException("epochs must be positive");
        if (c.BatchSize < 1 || c.MaxTokens < 2) throw new ArgumentException("batch size must be >= 1 and max tokens >= 2");
        if (c.Lr is { } lr && !(lr > 0 && lr < 1)) throw new ArgumentException($"learning rate {lr} is not in (0, 1)");
        if (c.WarmupSteps is < 0) throw new ArgumentException("warm-up steps must not be negative");
        if (c.ProbeSeeds < 1) throw new ArgumentException("probe seeds must be at least 1");
        if (c.ProbeEpochs is < 1) throw new ArgumentException("probe epochs must be at least 1");
        if (c.TorchThreads is < 1) throw new ArgumentException("threads must be at least 1");
        Window(c);
        BlobLayout.EncoderFileName(c.Encoder);
    }

    public static bool IsFsq(TrainingRunConfig config) => config.Targets.Equals("fsq", StringComparison.OrdinalIgnoreCase);

    /// <summary>The run's steps: <see cref="TrainingRunConfig.Steps"/>, else epochs x batches per epoch of
    /// <paramref name="videos"/> training videos, else max(default steps, default epochs).</summary>
    public static long TotalSteps(TrainingRunConfig config, long videos)
    {
        if (config.Steps is { } steps) return steps;
        var perEpoch = Math.Max(1, (videos + config.BatchSize - 1) / config.BatchSize);
        return config.Epochs is { } epochs ? epochs * perEpoch : Math.Max(TrainingRunConfig.DefaultSteps, TrainingRunConfig.DefaultEpochs * perEpoch);
    }

    /// <summary>The sample window: whole videos (up to MaxTokens) or the paper's duration sampling in "MIN..MAX" seconds.</summary>
    public static DurationWindowOptions Window(TrainingRunConfig config)
    {
        var whole = new DurationWindowOptions { MaxTokens = config.MaxTokens, MinSeconds = config.MaxTokens * 5.0, MaxSeconds = config.MaxTokens * 5.0 };
        var text = config.Window.Trim();
        if (text.Equals(TrainingRunConfig.WholeWindow, StringComparison.OrdinalIgnoreCase)) return whole;
        var parts = text.Split("..");
        if (parts.Length == 2 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var min) &&
            double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var max) && min >= 5 && max >= min)
            return whole with { MinSeconds = min, MaxSeconds = max };
        throw new ArgumentException($"window '{config.Window}' is neither 'whole' nor 'MIN..MAX' seconds with 5 <= MIN <= MAX (e.g. 10..1280)");
    }

    public static TrainerOptions TrainerOptions(TrainingRunConfig config, int dim, long totalSteps) => new()
    {
        Model = Model(config, dim),
        Masking = config.Masking,
        MaskRatio = MaskRatio(config),
        Adaptive = new AdaptiveOptions { DecoderMasking = DecoderSelection.Parse(config.DecoderMasking), DecoderBudget = config.DecoderBudget, FsqTargets = IsFsq(config) },
        BatchSize = config.BatchSize,
        AbsoluteLr = config.Lr ?? LvMae.Model.Training.TrainerOptions.DefaultPeakLr,
        TotalSteps = totalSteps,
        WarmupSteps = config.WarmupSteps ?? LvMae.Model.Training.TrainerOptions.DefaultWarmup(totalSteps),
        Seed = config.Seed,
        TorchThreads = config.TorchThreads,
    };

    public static TrainingSchedule Schedule(TrainerOptions options) => new()
    {
        PeakLr = options.PeakLr, WarmupSteps = options.WarmupSteps, TotalSteps = options.TotalSteps, MinLr = options.MinLr, BatchSize = options.BatchSize,
    };

    /// <summary>The schedule a config gives (the model width does not change it).</summary>
    public static TrainingSchedule Schedule(TrainingRunConfig config, long totalSteps) => Schedule(TrainerOptions(config, 8, totalSteps));

    public static TrainingFeedOptions FeedOptions(TrainingRunConfig config, int dim, FeedPosition start) => new()
    {
        Encoder = config.Encoder,
        Dimension = dim,
        Seed = config.Seed,
        FirstEpoch = start.Epoch,
        FirstIndexInEpoch = start.NextIndex,   // batches before a checkpoint are planned, not read again
        Epochs = config.Steps is null && config.Epochs is { } e ? Math.Max(1, e - start.Epoch) : null,
        MaxBatchSize = config.BatchSize,
        TokenBudget = config.BatchSize * config.MaxTokens,
        Window = Window(config),
        EmptyCorpusRetry = TimeSpan.FromSeconds(1),
    };

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The settings (JSON property names) whose values differ between two configs; empty when they are the same run.</summary>
    public static IReadOnlyList<string> Differences(TrainingRunConfig a, TrainingRunConfig b)
    {
        var left = JsonSerializer.SerializeToElement(a, Json);
        var right = JsonSerializer.SerializeToElement(b, Json);
        var result = new List<string>();
        foreach (var property in left.EnumerateObject())
        {
            var other = right.GetProperty(property.Name);
            if (property.Value.GetRawText() != other.GetRawText())
                result.Add($"{property.Name} {property.Value.GetRawText()} vs {other.GetRawText()}");
        }
        return result;
    }
}
