using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Model.Probing;

namespace LvMae.Grains.Training;

/// <summary>
/// The product's probes (<see cref="ProbeSuite"/>, the split rule of <see cref="RunProber.TaskFor"/>) on frozen features
/// that another implementation wrote: &lt;videoId&gt;.npy token features [n, W] per video and, when present,
/// &lt;videoId&gt;.cls.npy [W] (its [CLS] output), labelled by a CSV (first column the video id, a header, a split
/// column). So a reference model's features and LvMae's are scored by the same code.
/// </summary>
public static class FeatureProbe
{
    public const string Features = "features";

    public static IReadOnlyList<ProbeScore> Run(string directory, string labelsCsv, string column, string? kind, ProbeSettings settings)
    {
        if (!Directory.Exists(directory)) throw new ArgumentException($"--features {directory}: no such folder");
        var records = CsvFile.Read(labelsCsv, comments: true);
        if (records.Count < 2) throw new ArgumentException($"{labelsCsv}: no rows under a header");
        var header = records[0].Cells;
        var videos = new List<LabelledVideo>();
        var cls = new List<float[]?>();
        foreach (var (_, cells) in records.Skip(1))
        {
            if (cells.Count != header.Count || cells[0].Length == 0) continue;
            var path = Path.Combine(directory, cells[0] + ".npy");
            if (!File.Exists(path)) throw new ArgumentException($"{path}: missing (every video of {labelsCsv} needs its features)");
            var tokens = NpyArray.Read(path);
            if (tokens.Shape.Length != 2) throw new InvalidDataException($"{path}: shape [{string.Join(", ", tokens.Shape)}], expected [n, W]");
            var labels = header.Skip(1).Zip(cells.Skip(1)).Where(p => p.Second.Length > 0).ToDictionary(p => p.First, p => p.Second);
            videos.Add(new LabelledVideo(cells[0], tokens.ToFloats(), (int)tokens.Shape[1], labels));
            var clsPath = Path.Combine(directory, cells[0] + ".cls.npy");
            cls.Add(File.Exists(clsPath) ? NpyArray.Read(clsPath).ToFloats() : null);
        }
        if (videos.Select(v => v.Dimension).Distinct().Count() != 1) throw new InvalidDataException($"{directory}: features of different widths");
        if (RunProber.TaskFor(videos, column, kind == ProbeSuite.Regression) is not { } found)
            throw new ArgumentException($"column '{column}' cannot be probed: it needs labelled train and test videos (split column) and 2 classes");
        var (task, rows) = found;
        var width = videos[0].Dimension;
        var set = new ProbeSet(rows.Select(i => videos[i].Embeddings).ToList(), cls.All(c => c is not null) ? rows.Select(i => cls[i]!).ToList() : null, width);
        var probes = kind is null ? ProbeSuite.DefaultProbes(task, raw: false) : [kind];
        var scores = new List<ProbeScore> { Score(task, ProbeScore.Majority, ProbeSuite.Majority(task)) };
        scores.AddRange(probes.Select(p => Score(task, Features, ProbeSuite.Run(set, task, p, settings))));
        return scores;
    }

    private static ProbeScore Score(ProbeTask task, string features, ProbeSummary s) => new()
    {
        Column = task.Column, Features = features, Probe = s.Probe, Top1 = s.Top1, Top1Sd = s.Top1Sd, Mse = s.Mse, MseSd = s.MseSd,
        ValTop1 = s.ValTop1, Seeds = s.Seeds, Train = s.Train, Test = s.Test, Val = s.Val, Classes = task.Classes,
    };
}
