using System.Collections.Concurrent;
using System.Globalization;
using LvMae.Contracts;
using LvMae.Model;
using LvMae.Model.Probing;
using LvMae.Model.Training;
using LvMae.Pipeline;
using LvMae.Runs;
using TorchSharp;

namespace LvMae.Grains.Training;

/// <summary>A labelled video as probing sees it.</summary>
public sealed record LabelledVideo(string Id, float[] Embeddings, int Dimension, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// Raw-embedding baselines and majority baselines depend only on the data and the probe settings, not on the model: one
/// per-silo cache keyed by (encoder, column, probe, settings, the videos and their splits) serves every run and checkpoint.
/// Runs probing at the same time wait for one computation instead of repeating it.
/// </summary>
public sealed class ProbeBaselineCache
{
    private const int Capacity = 512;
    private readonly ConcurrentDictionary<string, Lazy<ProbeSummary>> _scores = new(StringComparer.Ordinal);

    public int Count => _scores.Count;

    public ProbeSummary GetOrAdd(string key, Func<ProbeSummary> compute)
    {
        if (!_scores.ContainsKey(key) && _scores.Count >= Capacity) _scores.Clear(); // rare (many corpora x settings): recompute rather than grow
        var entry = _scores.GetOrAdd(key, _ => new Lazy<ProbeSummary>(compute, LazyThreadSafetyMode.ExecutionAndPublication));
        try { return entry.Value; }
        catch
        {
            _scores.TryRemove(new KeyValuePair<string, Lazy<ProbeSummary>>(key, entry)); // a failed computation is not cached
            throw;
        }
    }
}

/// <summary>
/// Probes one checkpoint (on the calling thread: a dedicated one) with <see cref="ProbeSuite"/> on the labelled videos:
/// per label column the majority baseline, linear + attentive probes on the frozen LV-MAE features, and linear,
/// attentive and position-aware attentive probes on the raw segment embeddings; numeric columns with many values get the
/// regression probe instead. Splits follow <see cref="RunLabels.SplitOf"/> (train / val / test); scores are the mean
/// and sd over the run's probe seeds.
/// </summary>
public sealed class RunProber(TrainingRunConfig config, ProbeBaselineCache baselines)
{
    /// <summary>Probes the checkpoint of <paramref name="request"/>'s step on a dedicated thread over the labelled videos, listed
    /// and loaded afresh (new ones count); records the probe's duration.</summary>
    public async Task<IReadOnlyList<ProbeScore>> ProbeAsync(string run, CheckpointStore checkpoints, ProbeRequest request, IEmbeddedVideoSource source,
        IEmbeddingLoader loader, Action<ProbeActivity> onFit, CancellationToken ct)
    {
        var checkpoint = (await checkpoints.LoadAsync(request.Step)).Checkpoint;
        var probing = System.Diagnostics.Stopwatch.StartNew();
        var scores = await DedicatedThread.Run($"lvmae-probe-{run}", () =>
        {
            var dim = Checkpoint.ReadHeader(checkpoint).Options.Model.EmbeddingDim;
            return Run(checkpoint, request.Step, LoadLabelled(source, loader, config.Encoder, dim, ct), request.Column, request.Kind, onFit);
        });
        LvMae.Pipeline.Telemetry.LvMaeMetrics.ProbeDuration.Record(probing.Elapsed.TotalSeconds);
        return scores;
    }

    public static IReadOnlyList<LabelledVideo> LoadLabelled(IEmbeddedVideoSource source, IEmbeddingLoader loader, string encoder, int dim, CancellationToken ct)
    {
        var result = new List<LabelledVideo>();
        foreach (var video in source.ListAsync(encoder, ct).ToBlockingEnumerable(ct).OrderBy(v => v.VideoId, StringComparer.Ordinal))
        {
            if (video.Labels is not { Count: > 0 } labels) continue;
            // A missing or malformed blob (reported by the training feed) or another width is left out of the probe.
            if (loader.TryLoadAsync(video, dim, cancellationToken: ct).GetAwaiter().GetResult() is { } loaded)
                result.Add(new LabelledVideo(video.VideoId, loaded.Values, dim, labels));
        }
        return result;
    }

    /// <summary>The probe task of one column over the videos that have it: null when it cannot be probed (fewer than 4
    /// videos, an empty train or test split, fewer than 2 classes, a regression on non-numbers).</summary>
    public static (ProbeTask Task, IReadOnlyList<int> Rows)? TaskFor(IReadOnlyList<LabelledVideo> videos, string column, bool regression)
    {
        var rows = Enumerable.Range(0, videos.Count).Where(i => videos[i].Labels.ContainsKey(column)).ToList();
        if (rows.Count < 4) return null;
        var values = rows.Select(i => videos[i].Labels[column]).ToList();
        var roles = rows.Select(i => RunLabels.SplitOf(videos[i].Id, videos[i].Labels)).ToList();
        int[] Of(SplitRole role) => Enumerable.Range(0, rows.Count).Where(k => roles[k] == role).ToArray();
        var (train, test, val) = (Of(SplitRole.Train), Of(SplitRole.Test), Of(SplitRole.Val));
        if (train.Length == 0 || test.Length == 0) return null;
        if (regression)
        {
            var targets = new float[values.Count];
            for (var k = 0; k < values.Count; k++)
                if (!double.TryParse(values[k], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) return null;
                else targets[k] = (float)v;
            return (ProbeTask.Regression(column, targets, train, test, val), rows);
        }
        var names = values.Distinct().Order(StringComparer.Ordinal).ToList();
        if (names.Count < 2) return null;
        return (ProbeTask.Classification(column, values.Select(v => names.IndexOf(v)).ToArray(), train, test, val), rows);
    }

    /// <summary>Whether a column is probed by regression when no kind is asked for: the run names it, or it is numeric with more than 10 values.</summary>
    public bool IsRegressionColumn(IReadOnlyList<LabelledVideo> videos, string column)
    {
        if (config.RegressionColumns.Contains(column)) return true;
        var values = videos.Where(v => v.Labels.ContainsKey(column)).Select(v => v.Labels[column]).ToList();
        return values.Count > 0 && values.Distinct().Count() > 10 && values.All(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _));
    }

    /// <summary>Scores for <paramref name="column"/> (null = every column but 'split') and <paramref name="kind"/>
    /// (null = the default probes; "linear" / "attentive" also run their raw counterparts and the baseline).
    /// <paramref name="onFit"/> hears each fit before it starts (cached baselines included), for progress displays.</summary>
    public IReadOnlyList<ProbeScore> Run(byte[] checkpoint, long step, IReadOnlyList<LabelledVideo> videos, string? column, string? kind,
        Action<ProbeActivity>? onFit = null)
    {
        if (kind is not null && kind != ProbeSuite.Regression) ProbeSuite.Options(kind);
        var scores = new List<ProbeScore>();
        if (videos.Count == 0) return scores;
        var dim = videos[0].Dimension;
        var columns = column is not null ? [column]
            : videos.SelectMany(v => v.Labels.Keys).Distinct().Where(c => c != RunLabels.SplitColumn).Order(StringComparer.Ordinal).ToList();
        var plan = columns.Select(col => PlanColumn(videos, col, kind)).OfType<ColumnPlan>().ToList();
        var total = plan.Sum(c => c.Fits);
        var done = 0;
        T Fit<T>(ColumnPlan c, string features, string probe, Func<T> fit)
        {
            onFit?.Invoke(new ProbeActivity { Step = step, Column = c.Column, Features = features, Probe = probe, Done = done, Total = total });
            var result = fit();
            done++;
            return result;
        }

        // Probe seeds 0, 1000, 2000, ... whatever the run's seed: runs that differ only in their pre-training seed are probed
        // alike, so their spread is the pre-training's, and the baselines (raw, majority: no model) are computed once per
        // corpus and silo instead of once per run (the raw attentive probes at the embedding width dominate a probe's cost).
        var settings = new ProbeSettings { Seeds = config.ProbeSeeds, Seed = 0, Epochs = config.ProbeEpochs, Device = config.Device };
        using var model = ModelWeights.LoadModel(Checkpoint.ExtractWeights(checkpoint), TorchDevice.Resolve(config.Device));
        IReadOnlyList<EncodedVideo>? encoded = null;
        IReadOnlyList<EncodedVideo>? untrained = null;
        foreach (var c in plan)
        {
            var (task, rows) = (c.Task, c.Rows);
            encoded ??= Representation.EncodeMany(model, videos.Select(v => v.Embeddings).ToList(), dim);
            var lvmae = new ProbeSet(rows.Select(i => encoded[i].Tokens).ToList(), rows.Select(i => encoded[i].Cls).ToList(), model.Config.Width);
            var raw = ProbeSet.Raw(rows.Select(i => videos[i].Embeddings).ToList(), dim);
            var key = $"{config.Encoder}|{c.Column}|{settings}|{string.Join(",", rows.Select(i => videos[i].Id))}|{string.Join(",", task.Test)}|{string.Join(",", task.Val)}";

            scores.Add(Score(step, task, ProbeScore.Majority, Fit(c, ProbeScore.Majority, "majority", () => baselines.GetOrAdd($"{key}|majority", () => ProbeSuite.Majority(task)))));
            foreach (var probe in c.LvMaeProbes)
            {
                scores.Add(Score(step, task, ProbeScore.LvMae, Fit(c, ProbeScore.LvMae, probe, () => ProbeSuite.Run(lvmae, task, probe, settings))));
                scores.Add(Score(step, task, ProbeScore.Untrained, Fit(c, ProbeScore.Untrained, probe, () => baselines.GetOrAdd($"{key}|untrained|{config.Seed}|{model.Config.ToJson()}|{probe}", () =>
                {
                    untrained ??= UntrainedFeatures(model.Config, videos, dim);
                    return ProbeSuite.Run(new ProbeSet(rows.Select(i => untrained[i].Tokens).ToList(), rows.Select(i => untrained[i].Cls).ToList(), model.Config.Width), task, probe, settings);
                }))));
            }
            foreach (var probe in c.RawProbes)
                scores.Add(Score(step, task, ProbeScore.Raw, Fit(c, ProbeScore.Raw, probe, () => baselines.GetOrAdd($"{key}|raw|{probe}", () => ProbeSuite.Run(raw, task, probe, settings)))));
        }
        return scores;
    }

    /// <summary>One label column's probe task and the probes it gets: majority, each LV-MAE probe twice (trained and
    /// step 0), each raw probe.</summary>
    private sealed record ColumnPlan(string Column, ProbeTask Task, IReadOnlyList<int> Rows, IReadOnlyList<string> LvMaeProbes, IReadOnlyList<string> RawProbes)
    {
        public int Fits => 1 + 2 * LvMaeProbes.Count + RawProbes.Count;
    }

    private ColumnPlan? PlanColumn(IReadOnlyList<LabelledVideo> videos, string column, string? kind)
    {
        var regression = kind == ProbeSuite.Regression || (kind is null && IsRegressionColumn(videos, column));
        if (TaskFor(videos, column, regression) is not { } found) return null;
        var lvmaeProbes = kind is null || regression ? ProbeSuite.DefaultProbes(found.Task, raw: false) : [kind];
        var rawProbes = kind is null || regression ? ProbeSuite.DefaultProbes(found.Task, raw: true) : kind == ProbeSuite.Attentive ? [kind, ProbeSuite.AttentivePositions] : [kind];
        return new ColumnPlan(column, found.Task, found.Rows, lvmaeProbes, rawProbes);
    }

    /// <summary>The features of the run's model before its first step: the weights <see cref="Trainer"/> starts from (same
    /// config, same seed), on the same device.</summary>
    private IReadOnlyList<EncodedVideo> UntrainedFeatures(MaeConfig modelConfig, IReadOnlyList<LabelledVideo> videos, int dim)
    {
        using var model = new LvMaeModel(modelConfig, config.Seed);
        model.to(TorchDevice.Resolve(config.Device));
        return Representation.EncodeMany(model, videos.Select(v => v.Embeddings).ToList(), dim);
    }

    private static ProbeScore Score(long step, ProbeTask task, string features, ProbeSummary s) => new()
    {
        Step = step, Column = task.Column, Features = features, Probe = s.Probe, Top1 = s.Top1, Top1Sd = s.Top1Sd, Mse = s.Mse, MseSd = s.MseSd,
        ValTop1 = s.ValTop1, Seeds = s.Seeds, Train = s.Train, Test = s.Test, Val = s.Val, Classes = task.Classes,
    };
}
