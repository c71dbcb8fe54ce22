using LvMae.Formats;

namespace LvMae.Cli;

/// <summary>
/// Labels per input file from --labels: a CSV file, or a comma-separated list applied to every input.
/// <para>A CSV whose first row is a header (first cell one of <see cref="IdHeaders"/>) gives named labels "column=value"
/// (what training and probing group by); a column literally named "label" or "labels" keeps plain tags, and a value that
/// already reads "column=value" is not prefixed twice. A headerless CSV (file,label[,label...]) gives positional labels.
/// Lines starting with '#' are comments.</para>
/// <para>A row matches an input by file name, file name without extension, or path: a path with a directory in it
/// ("clips/a.mp4", "../b.mp4") is taken relative to the CSV's folder. Anything that would be stored wrong is refused with
/// the file and line: a row with more or fewer cells than the header, a file named twice, a label too long or with a
/// control character.</para>
/// </summary>
public sealed class InputLabels
{
    /// <summary>Header names that mark the first CSV column as the video (file name or id) column.</summary>
    public static readonly IReadOnlyList<string> IdHeaders = ["videoId", "video_id", "id", "video", "file", "path"];

    private static readonly InputLabels None = new(null, [], new Dictionary<string, Row>(StringComparer.OrdinalIgnoreCase));

    private readonly string? _csv;
    private readonly IReadOnlyList<string> _everyInput;
    private readonly Dictionary<string, Row> _rows;

    private sealed record Row(long Line, string Key, IReadOnlyList<string> Labels);

    private InputLabels(string? csv, IReadOnlyList<string> everyInput, Dictionary<string, Row> rows) =>
        (_csv, _everyInput, _rows) = (csv, everyInput, rows);

    /// <summary>Reads the --labels option; throws <see cref="ArgumentException"/> naming the file and line of the problem.</summary>
    public static InputLabels Parse(string? option)
    {
        if (string.IsNullOrWhiteSpace(option)) return None;
        if (Directory.Exists(option)) throw new ArgumentException($"--labels {option}: is a directory, not a CSV file");
        if (!File.Exists(option))
        {
            if (option.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) || option.Contains('/') || option.Contains('\\'))
                throw new ArgumentException($"--labels {option}: labels file not found");
            var labels = option.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            foreach (var label in labels)
                if (LabelRules.Problem(label) is { } problem) throw new ArgumentException($"--labels: {problem}");
            return new InputLabels(null, labels, new Dictionary<string, Row>(StringComparer.OrdinalIgnoreCase));
        }
        try { return FromCsv(Path.GetFullPath(option), CsvFile.Read(option, comments: true)); }
        catch (CsvDataException e) { throw new ArgumentException(e.Message, e); }
        catch (IOException e) { throw new ArgumentException($"{option}: cannot be read: {e.Message}", e); }
    }

    private static InputLabels FromCsv(string csv, IReadOnlyList<CsvRecord> records)
    {
        if (records.Count == 0) throw new ArgumentException($"{csv}: the labels CSV is empty");
        var folder = Path.GetDirectoryName(csv)!;
        var rows = new Dictionary<string, Row>(StringComparer.OrdinalIgnoreCase);
        foreach (var (line, name, labels) in Rows(csv, records, IdHeaders))
        {
            var key = HasFolder(name) ? Path.GetFullPath(Path.Combine(folder, name)) : name;
            if (rows.TryGetValue(key, out var earlier))
                throw new ArgumentException($"{csv} line {line}: {LabelRules.Quote(name)} is already labelled on line {earlier.Line}");
            rows[key] = new Row(line, name, labels);
        }
        return new InputLabels(csv, [], rows);
    }

    /// <summary>
    /// The rows of a labels CSV (also a manifest of blobs): the first cell names the input, the others are its labels, named
    /// "column=value" when the first row is a header (its first cell one of <paramref name="idHeaders"/>). Throws
    /// <see cref="ArgumentException"/> with the file and line of a row that would be stored wrong.
    /// </summary>
    public static IEnumerable<(long Line, string Name, IReadOnlyList<string> Labels)> Rows(string csv, IReadOnlyList<CsvRecord> records, IReadOnlyList<string> idHeaders)
    {
        if (records.Count == 0) throw new ArgumentException($"{csv}: the CSV is empty");
        ArgumentException Bad(long line, string problem) => new($"{csv} line {line}: {problem}");

        IReadOnlyList<string>? header = null;
        if (idHeaders.Contains(records[0].Cells[0], StringComparer.OrdinalIgnoreCase))
        {
            header = records[0].Cells;
            if (header.Where(c => c.Length > 0).GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
                throw Bad(records[0].Line, $"column {LabelRules.Quote(twice.Key)} appears twice in the header");
        }

        foreach (var (line, cells) in records.Skip(header is null ? 0 : 1))
        {
            if (cells.All(c => c.Length == 0)) continue; // a blank line of separators or spaces
            if (header is not null && cells.Count != header.Count)
                throw Bad(line, $"{LabelRules.Cells(cells.Count)}, the header has {header.Count}");
            var name = cells[0];
            if (name.Length == 0) throw Bad(line, "the first cell (the file) is empty");
            var labels = header is null
                ? cells.Skip(1).Where(c => c.Length > 0).ToList()
                : cells.Skip(1).Zip(header.Skip(1), (value, column) => (value, column))
                    .Where(p => p.value.Length > 0 && p.column.Length > 0)
                    .Select(p => IsPlainLabelColumn(p.column) || p.value.StartsWith(p.column + "=", StringComparison.Ordinal) ? p.value : $"{p.column}={p.value}")
                    .ToList();
            foreach (var label in labels)
                if (LabelRules.Problem(label) is { } problem) throw Bad(line, problem);
            yield return (line, name, labels);
        }
    }

    // A column literally named "label(s)" holds plain tags, not column=value pairs.
    private static bool IsPlainLabelColumn(string column) =>
        column.Equals("label", StringComparison.OrdinalIgnoreCase) || column.Equals("labels", StringComparison.OrdinalIgnoreCase);

    private static bool HasFolder(string name) => name.Contains('/') || name.Contains('\\') || Path.IsPathRooted(name);

    /// <summary>The labels of the input at <paramref name="path"/> (none when no row names it).</summary>
    public IReadOnlyList<string> For(string path) => Find(path)?.Labels ?? _everyInput;

    private Row? Find(string path)
    {
        var full = Path.GetFullPath(path);
        return _rows.GetValueOrDefault(full) ?? _rows.GetValueOrDefault(Path.GetFileName(path))
            ?? _rows.GetValueOrDefault(Path.GetFileNameWithoutExtension(path));
    }

    /// <summary>"labels.csv: 2 rows match no input: line 4 '../x.mp4', line 9 'zz'" for rows no input matched; null when all did.</summary>
    public string? Unmatched(IEnumerable<string> inputs)
    {
        if (_csv is null) return null;
        var used = inputs.Select(Find).OfType<Row>().ToHashSet();
        var left = _rows.Values.Where(r => !used.Contains(r)).OrderBy(r => r.Line).ToList();
        if (left.Count == 0) return null;
        var shown = string.Join(", ", left.Take(5).Select(r => $"line {r.Line} {LabelRules.Quote(r.Key)}"));
        return $"{_csv}: {left.Count} row(s) match no input: {shown}{(left.Count > 5 ? ", ..." : "")}";
    }
}
