namespace LvMae.Formats;

/// <summary>
/// What a label may be: labels travel into grain state, the corpus index and every status table, so a label that is
/// megabytes long or holds line breaks is refused where it is read, with the file and line that hold it.
/// </summary>
public static class LabelRules
{
    /// <summary>Longest label, in characters (a "column=value" label counts whole).</summary>
    public const int MaxLength = 256;

    /// <summary>The label column that says which split a video belongs to.</summary>
    public const string SplitColumn = "split";

    /// <summary>Every accepted value of the split column (case-insensitive) and the split it names: train, val, test, or
    /// pretrain (videos that only pre-train the model).</summary>
    public static IReadOnlyDictionary<string, string> SplitValues { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["train"] = "train",
        ["val"] = "val", ["valid"] = "val", ["validation"] = "val", ["dev"] = "val",
        ["test"] = "test",
        ["pretrain"] = "pretrain", ["unlabeled"] = "pretrain", ["unlabelled"] = "pretrain",
    };

    /// <summary>What is wrong with <paramref name="label"/>, or null when it is a usable label.</summary>
    public static string? Problem(string label)
    {
        if (label.Length > MaxLength) return $"a label of {label.Length} characters (at most {MaxLength}): {Quote(label)}";
        foreach (var c in label)
            if (char.IsControl(c)) return $"a label with a control character (U+{(int)c:X4}): {Quote(label)}";
        if (label.StartsWith(SplitColumn + "=", StringComparison.Ordinal) && !SplitValues.ContainsKey(label[(SplitColumn.Length + 1)..].Trim()))
            return $"unknown split {Quote(label[(SplitColumn.Length + 1)..])} (accepted: {string.Join(", ", SplitValues.Keys)})";
        return null;
    }

    /// <summary>"1 cell", "3 cells".</summary>
    public static string Cells(int count) => count == 1 ? "1 cell" : $"{count} cells";

    /// <summary>A value as an error message shows it: quoted, cut at 40 characters, control characters escaped.</summary>
    public static string Quote(string value)
    {
        var shown = value.Length > 40 ? value[..40] + "..." : value;
        return "'" + string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString())) + "'";
    }
}
