using System.Globalization;
using LvMae.Contracts;
using LvMae.Model;
using LvMae.Model.Probing;
using LvMae.Model.Training;
using LvMae.Pipeline;

namespace LvMae.Grains.Training;

/// <summary>A labelled video as probing sees it.</summary>
public sealed record LabelledVideo(string Id, float[] Embeddings, int Dimension, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// Probes one checkpoint (on the calling thread: a dedicated one) with src/Model's probes on the labelled videos: per label
/// column, linear + attentive probes on the frozen LV-MAE features next to the same probes on the raw segment embeddings
/// (the paper's baseline); numeric columns with many values get the regression probe. Held-out split: the 'split' column when
/// present, else a deterministic id hash (<see cref="RunLabels.IsTest"/>). Raw baselines depend only on the data, so they are
/// cached per (column, probe, video set).
/// </summary>
public sealed class RunProber(TrainingRunConfig config)
{
    private readonly Dictionary<string, ProbeScore> _rawCache = new(StringComparer.Ordinal);

    public static IReadOnlyList<LabelledVideo> LoadLabelled(IEmbeddedVideoSource source, IEmbeddingLoader loader, string encoder, int dim, CancellationToken ct)
    {
        var result = new List<LabelledVideo>();
        foreach (var video in source.ListAsync(encoder, ct).ToBlockingEnumerable(ct).OrderBy(v => v.VideoId, StringComparer.Ordinal))
        {
            if (video.Labels is not { Count: > 0 } labels) continue;
            try
            {
                var loaded = loader.LoadAsync(video, ct).GetAwaiter().GetResult();
                if (loaded.Dimension == dim) result.Add(new LabelledVideo(video.VideoId, loaded.Values, dim, labels));
            }
            catch (EmbeddingLoadException) { /* reported by the training feed; leave it out of the probe */ }
        }
        return result;
    }

    /// <summary>Scores for <paramref name="column"/> (null = every column but 'split') and <paramref name="kind"/> (null = linear + attentive).</summary>
    public IReadOnlyList<ProbeScore> Run(byte[] checkpoint, long step, IReadOnlyList<LabelledVideo> videos, string? column, string? kind)
    {
        var scores = new List<ProbeScore>();
        if (videos.Count == 0) return scores;
        var dim = videos[0].Dimension;
        var columns = column is not null ? [column]
            : videos.SelectMany(v => v.Labels.Keys).Distinct().Where(c => c != RunLabels.SplitColumn).Order(StringComparer.Ordinal).ToList();
        using var model = ModelWeights.LoadModel(Checkpoint.ExtractWeights(checkpoint), TorchDevice.Resolve(config.Device));
        IReadOnlyList<EncodedVideo>? encoded = null;
        foreach (var col in columns)
        {
            var rows = videos.Where(v => v.Labels.ContainsKey(col)).ToList();
            if (rows.Count < 4) continue;
            var values = rows.Select(v => v.Labels[col]).ToList();
            var numeric = values.All(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _));
            var regression = kind is "regression" || (kind is null && numeric && values.Distinct().Count() > 10);
            if (regression && !numeric) continue;
            var test = rows.Select(v => RunLabels.IsTest(v.Id, v.Labels)).ToArray();
            var trainIdx = Enumerable.Range(0, rows.Count).Where(i => !test[i]).ToList();
            var testIdx = Enumerable.Range(0, rows.Count).Where(i => test[i]).ToList();
            if (trainIdx.Count == 0 || testIdx.Count == 0) continue;

            int[]? labels = null;
            float[]? targets = null;
            var classes = 0;
            if (regression) targets = values.Select(v => (float)double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            else
            {
                var names = values.Distinct().Order(StringComparer.Ordinal).ToList();
                if (names.Count < 2) continue;
                classes = names.Count;
                labels = values.Select(v => names.IndexOf(v)).ToArray();
            }
            var raw = rows.Select(v => v.Embeddings).ToList();
            encoded ??= Representation.EncodeMany(model, videos.Select(v => v.Embeddings).ToList(), dim);
            var byId = videos.Select((v, i) => (v.Id, i)).ToDictionary(x => x.Id, x => x.i);
            var enc = rows.Select(v => encoded[byId[v.Id]]).ToList();
            var lvmae = new ProbeSet(enc.Select(e => e.Tokens).ToList(), enc.Select(e => e.Cls).ToList(), model.Config.Width, labels, targets);
            var rawSet = ProbeSet.Raw(raw, dim, labels, targets);

            var kinds = regression ? ["regression"] : kind is null ? new[] { "linear", "attentive" } : [kind];
            var key = string.Join(",", rows.Select(r => r.Id));
            foreach (var k in kinds)
            {
                var probeOptions = Options(k);
                scores.Add(Score(step, col, "lv-mae", k, ProbeTrainer.Run(lvmae.Subset(trainIdx), lvmae.Subset(testIdx), probeOptions with { Heads = Heads(model.Config.Width) }), classes));
                var cacheKey = $"{col}|{k}|{key}";
                if (!_rawCache.TryGetValue(cacheKey, out var rawScore))
                    _rawCache[cacheKey] = rawScore = Score(step, col, "raw", k, ProbeTrainer.Run(rawSet.Subset(trainIdx), rawSet.Subset(testIdx), probeOptions with { Heads = Heads(dim) }), classes);
                scores.Add(rawScore with { Step = step });
            }
        }
        return scores;
    }

    private ProbeOptions Options(string kind)
    {
        var o = kind switch
        {
            "linear" => ProbeOptions.Linear(),
            "attentive" => ProbeOptions.Attentive(),
            "regression" => ProbeOptions.Regression(),
            _ => throw new ArgumentException($"unknown probe kind '{kind}' (linear, attentive, regression)"),
        };
        o = o with { Device = config.Device, Seed = config.Seed };
        return config.ProbeEpochs is { } epochs ? o with { Epochs = epochs } : o;
    }

    private static int Heads(int width) => new[] { 8, 4, 2, 1 }.First(h => width % h == 0);

    private static ProbeScore Score(long step, string column, string features, string probe, ProbeResult r, int classes) => new()
    {
        Step = step, Column = column, Features = features, Probe = probe, Top1 = r.Top1, Mse = r.Mse,
        Train = r.TrainCount, Test = r.TestCount, Classes = classes,
    };
}
