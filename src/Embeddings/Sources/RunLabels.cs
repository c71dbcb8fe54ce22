using LvMae.Formats;

namespace LvMae.Pipeline;

/// <summary>Where a video belongs: pre-training and probe training (Train), pre-training only (Pretrain: unlabelled
/// videos), model selection (Val) or the reported score (Test).</summary>
public enum SplitRole { Train, Val, Test, Pretrain }

/// <summary>
/// Label columns of a video and the one held-out rule of the code base (training runs, probes, the demo, the ablation).
/// Labels of the form "column=value" name their column; plain labels (the ingest CSV's cells after the id) are
/// positional: LabelColumns[i] when the run names them, "label" when a video has exactly one, else "label0", "label1", ...
/// (the video grain de-duplicates labels, so positional cells that repeat are lost: prefer column=value).
/// </summary>
public static class RunLabels
{
    public const string SplitColumn = LabelRules.SplitColumn;

    public static IReadOnlyDictionary<string, string> Parse(IReadOnlyList<string> labels, IReadOnlyList<string> columns)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var plain = new List<string>();
        foreach (var label in labels)
        {
            var eq = label.IndexOf('=');
            if (eq > 0) result[label[..eq].Trim()] = label[(eq + 1)..].Trim();
            else plain.Add(label);
        }
        for (var i = 0; i < plain.Count; i++)
        {
            var name = i < columns.Count ? columns[i] : plain.Count == 1 && columns.Count == 0 ? "label" : $"label{i}";
            result.TryAdd(name, plain[i]);
        }
        return result;
    }

    /// <summary>
    /// The held-out rule. The 'split' column decides: "train" = Train; "val", "valid", "validation", "dev" = Val; "test" =
    /// Test; "pretrain", "unlabeled", "unlabelled" = Pretrain; any other value (refused at import since issue 24; a video
    /// stored before then) = Test, never trained on. A labelled video without a 'split' column is Test 1 time in 5 by an
    /// FNV-1a hash of its id (deterministic), else Train. A video without labels is Pretrain (nothing can score it).
    /// Train and Pretrain videos pre-train the model; Train videos also train the probes; Val and Test videos do neither
    /// (unless a run asks to pre-train on them): probes are scored on Test (the reported figure) and on Val (for
    /// choosing settings and checkpoints).
    /// </summary>
    public static SplitRole SplitOf(string videoId, IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is null || labels.Count == 0) return SplitRole.Pretrain;
        if (labels.TryGetValue(SplitColumn, out var split))
            return LabelRules.SplitValues.TryGetValue(split.Trim(), out var name) ? name switch
            {
                "train" => SplitRole.Train,
                "val" => SplitRole.Val,
                "pretrain" => SplitRole.Pretrain,
                _ => SplitRole.Test,
            } : SplitRole.Test;
        ulong hash = 14695981039346656037UL;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(videoId)) hash = (hash ^ b) * 1099511628211UL;
        return hash % 5 == 0 ? SplitRole.Test : SplitRole.Train;
    }

    /// <summary>Whether pre-training leaves the video out by default (Val and Test).</summary>
    public static bool IsHeldOut(string videoId, IReadOnlyDictionary<string, string>? labels) => SplitOf(videoId, labels) is SplitRole.Val or SplitRole.Test;
}
