namespace LvMae.Model.Probing;

/// <summary>
/// One label column to probe over a set of videos: classification labels (class indices) or regression targets, and
/// which videos train the probe, which are the reported held-out set and which the validation set.
/// </summary>
public sealed record ProbeTask(string Column, int[]? Labels, float[]? Targets, int Classes, int[] Train, int[] Test, int[] Val)
{
    public bool IsRegression => Targets is not null;

    public static ProbeTask Classification(string column, int[] labels, int[] train, int[] test, int[]? val = null) =>
        new(column, labels, null, labels.Max() + 1, train, test, val ?? []);

    public static ProbeTask Regression(string column, float[] targets, int[] train, int[] test, int[]? val = null) =>
        new(column, null, targets, 0, train, test, val ?? []);
}

/// <summary>How probes are trained: seeds (the scores are their mean and sample sd), epochs override, device.</summary>
public sealed record ProbeSettings
{
    public int Seeds { get; init; } = 3;
    /// <summary>Seed of the first probe; probe i uses Seed + 1000 i.</summary>
    public long Seed { get; init; }
    /// <summary>Null = the paper's (linear/regression 30, attentive 20).</summary>
    public int? Epochs { get; init; }
    public string Device { get; init; } = "auto";
}

/// <summary>One probe's score on a task: mean and sample sd over the seeds (sd 0 with one seed).</summary>
public sealed record ProbeSummary(
    string Probe, double? Top1, double? Top1Sd, double? Mse, double? MseSd, double? ValTop1, int Seeds, int Train, int Test, int Val);

/// <summary>
/// THE probe implementation of the code base (training runs, the probe CLI, the demo, the ablation): the paper's linear
/// and attentive probes (+ the position-aware attentive probe on raw embeddings, the regression probe) trained with
/// <see cref="ProbeTrainer"/> on a task's train videos over several seeds, scored on its test (and val) videos, and the
/// majority baseline every verdict compares with.
/// </summary>
public static class ProbeSuite
{
    public const string Linear = "linear";
    public const string Attentive = "attentive";
    /// <summary>Attentive probe with sin-cos positions added to the tokens: the position-aware raw baseline.</summary>
    public const string AttentivePositions = "attentive+pos";
    public const string Regression = "regression";
    public const string Baseline = "baseline";

    /// <summary>The probes of every feature set: linear, attentive (the paper's) and attentive+pos. The raw baseline that
    /// can see order must be beaten, and LV-MAE features get the same position-aware probe so the comparison is one probe
    /// over two feature sets: an MAE encoder has no reason to keep absolute positions in its outputs (its decoder adds its
    /// own), yet a user of its tokens knows each one's position.</summary>
    public static IReadOnlyList<string> DefaultProbes(ProbeTask task, bool raw) =>
        task.IsRegression ? [Regression] : [Linear, Attentive, AttentivePositions];

    public static ProbeOptions Options(string probe) => probe switch
    {
        Linear => ProbeOptions.Linear(),
        Attentive => ProbeOptions.Attentive(),
        AttentivePositions => ProbeOptions.Attentive(addPositions: true),
        Regression => ProbeOptions.Regression(),
        _ => throw new ArgumentException($"unknown probe '{probe}' ({Linear}, {Attentive}, {AttentivePositions}, {Regression})"),
    };

    /// <summary>Trains <paramref name="probe"/> on the task's train videos once per seed and scores it.</summary>
    public static ProbeSummary Run(ProbeSet features, ProbeTask task, string probe, ProbeSettings settings)
    {
        if (task.IsRegression != (probe == Regression)) throw new ArgumentException($"probe '{probe}' does not fit column '{task.Column}' ({(task.IsRegression ? "regression" : "classification")})");
        var set = features with { Labels = task.Labels, Targets = task.Targets };
        var (train, test) = (set.Subset(task.Train), set.Subset(task.Test));
        var val = task.Val.Length > 0 ? set.Subset(task.Val) : null;
        var options = Options(probe) with { Device = settings.Device };
        if (settings.Epochs is { } epochs) options = options with { Epochs = epochs };
        var results = Enumerable.Range(0, settings.Seeds)
            .Select(i => ProbeTrainer.Run(train, test, options with { Seed = settings.Seed + 1000L * i }, val)).ToList();
        return new ProbeSummary(probe,
            Mean(results.Select(r => r.Top1)), Sd(results.Select(r => r.Top1)),
            Mean(results.Select(r => r.Mse)), Sd(results.Select(r => r.Mse)),
            Mean(results.Select(r => r.ValTop1)), results.Count, task.Train.Length, task.Test.Length, task.Val.Length);
    }

    /// <summary>What a useless probe scores: the most frequent train class (ties: the lowest index), or the train mean.</summary>
    public static ProbeSummary Majority(ProbeTask task)
    {
        if (task.IsRegression)
        {
            var mean = task.Train.Average(i => (double)task.Targets![i]);
            var mse = task.Test.Select(i => Math.Pow(task.Targets![i] - mean, 2)).DefaultIfEmpty(double.NaN).Average();
            return new ProbeSummary(Baseline, null, null, mse, 0, null, 1, task.Train.Length, task.Test.Length, task.Val.Length);
        }
        var majority = task.Train.GroupBy(i => task.Labels![i]).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        double? Accuracy(int[] rows) => rows.Length == 0 ? null : rows.Average(i => task.Labels![i] == majority ? 1.0 : 0.0);
        return new ProbeSummary(Baseline, Accuracy(task.Test), 0, null, null, Accuracy(task.Val), 1, task.Train.Length, task.Test.Length, task.Val.Length);
    }

    private static double? Mean(IEnumerable<double?> values)
    {
        var list = values.OfType<double>().ToList();
        return list.Count == 0 ? null : list.Average();
    }

    /// <summary>Sample standard deviation (n - 1); 0 for one value.</summary>
    public static double? Sd(IEnumerable<double?> values)
    {
        var list = values.OfType<double>().ToList();
        if (list.Count == 0) return null;
        if (list.Count == 1) return 0;
        var mean = list.Average();
        return Math.Sqrt(list.Sum(x => (x - mean) * (x - mean)) / (list.Count - 1));
    }
}
