using System.Text;
using LvMae.Formats;

namespace LvMae.Media;

/// <summary>One imported video: its segment embeddings (row-major [Count, Dimension]) and its labels, if any.</summary>
public sealed record ImportedVideo(string VideoId, string SourcePath, float[] Embeddings, int Count, int Dimension, IReadOnlyDictionary<string, string> Labels);

/// <summary>A directory of &lt;videoId&gt;.npy files plus the labels CSV, checked for consistency.</summary>
public sealed record ImportedEmbeddings(
    IReadOnlyList<ImportedVideo> Videos,
    int Dimension,
    IReadOnlyList<string> LabelColumns,
    // ids in the labels CSV with no .npy file
    IReadOnlyList<string> UnmatchedLabelIds);

/// <summary>A parsed labels CSV: the id column and the label columns, one row per video id.</summary>
public sealed record LabelTable(string IdColumn, IReadOnlyList<string> LabelColumns, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Rows);

internal static class ImportImpl
{
    private static readonly string[] IdColumns = ["videoId", "video_id", "id", "video"];

    public static (float[] Embeddings, int Count, int Dimension) ReadNpy(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new MediaException(path, MediaErrorKind.FileNotFound, "embeddings file not found");
        try
        {
            using var stream = File.OpenRead(path);
            return ReadNpy(stream, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"cannot be read: {e.Message}", e);
        }
    }

    public static (float[] Embeddings, int Count, int Dimension) ReadNpy(ReadOnlyMemory<byte> content, string name)
    {
        using var stream = new MemoryStream(content.ToArray(), writable: false);
        return ReadNpy(stream, name);
    }

    private static (float[] Embeddings, int Count, int Dimension) ReadNpy(Stream stream, string path)
    {
        NpyArray array;
        try { array = NpyArray.Read(stream); }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or OverflowException)
        {
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, e.Message.Replace(path + ": ", "", StringComparison.Ordinal), e);
        }
        if (array.Shape.Length != 2)
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"expected a 2-d float32 array [segments, dim], got shape [{string.Join(", ", array.Shape)}]");
        if (array.DType is not ("<f4" or "<f8"))
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"expected float32 values, got dtype '{array.DType}'");
        var (count, dim) = (array.Shape[0], array.Shape[1]);
        if (count < 1 || dim < 1)
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"empty embeddings [{count}, {dim}]");
        if (dim > 1 << 16 || count > 1 << 20)
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"implausible embeddings shape [{count}, {dim}]");
        var values = array.ToFloats();
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"non-finite value {values[i]} at row {i / dim}, column {i % dim}");
        return (values, (int)count, (int)dim);
    }

    public static ImportedEmbeddings ImportDirectory(string directory, string? labelsCsv)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory)) throw new MediaException(directory, MediaErrorKind.FileNotFound, "embeddings directory not found");
        var files = Directory.GetFiles(directory, "*.npy").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new MediaException(directory, MediaErrorKind.BadEmbeddings, "no .npy files in the directory");
        var labels = labelsCsv is null ? null : ReadLabels(labelsCsv);

        var videos = new List<ImportedVideo>(files.Count);
        var dimension = 0;
        foreach (var file in files)
        {
            var id = Path.GetFileNameWithoutExtension(file);
            if (!VideoIds.IsValid(id))
                throw new MediaException(file, MediaErrorKind.BadEmbeddings, $"file name '{id}' is not a valid video id (1-128 characters from A-Z a-z 0-9 . _ -, not starting with '.')");
            var (values, count, dim) = ReadNpy(file);
            if (dimension == 0) dimension = dim;
            else if (dim != dimension)
                throw new MediaException(file, MediaErrorKind.BadEmbeddings, $"dimension {dim} differs from {dimension} in the other files");
            IReadOnlyDictionary<string, string> row = labels is not null && labels.Rows.TryGetValue(id, out var r) ? r : new Dictionary<string, string>();
            videos.Add(new ImportedVideo(id, file, values, count, dim, row));
        }
        var known = videos.Select(v => v.VideoId).ToHashSet(StringComparer.Ordinal);
        var unmatched = labels?.Rows.Keys.Where(k => !known.Contains(k)).Order(StringComparer.Ordinal).ToList() ?? [];
        return new ImportedEmbeddings(videos, dimension, labels?.LabelColumns ?? [], unmatched);
    }

    public static LabelTable ReadLabels(string path)
    {
        if (!File.Exists(path)) throw new MediaException(path, MediaErrorKind.FileNotFound, "labels CSV not found");
        List<List<string>> records;
        try { records = ParseCsv(File.ReadAllText(path, Encoding.UTF8)); }
        catch (FormatException e) { throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"malformed CSV: {e.Message}", e); }
        if (records.Count == 0) throw new MediaException(path, MediaErrorKind.BadEmbeddings, "labels CSV is empty");
        var header = records[0].Select(h => h.Trim()).ToList();
        var idIndex = -1;
        foreach (var name in IdColumns)
        {
            idIndex = header.FindIndex(h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
            if (idIndex >= 0) break;
        }
        if (idIndex < 0) throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"labels CSV has no id column (one of {string.Join(", ", IdColumns)}); header: {string.Join(",", header)}");
        var labelColumns = header.Where((_, i) => i != idIndex).ToList();
        if (labelColumns.Distinct(StringComparer.Ordinal).Count() != labelColumns.Count)
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, "labels CSV has duplicate column names");

        var rows = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        for (var line = 1; line < records.Count; line++)
        {
            var record = records[line];
            if (record.Count == 1 && record[0].Length == 0) continue; // blank line
            if (record.Count != header.Count)
                throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"record {line + 1} has {record.Count} fields, the header has {header.Count}");
            var id = record[idIndex].Trim();
            if (!VideoIds.IsValid(id))
                throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"record {line + 1}: '{id}' is not a valid video id");
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < header.Count; i++)
                if (i != idIndex) values[header[i]] = record[i];
            if (!rows.TryAdd(id, values))
                throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"record {line + 1}: video id '{id}' appears twice");
        }
        return new LabelTable(header[idIndex], labelColumns, rows);
    }

    /// <summary>RFC 4180: commas, double-quoted fields with "" escapes and embedded newlines, CRLF or LF.</summary>
    internal static List<List<string>> ParseCsv(string text)
    {
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var records = new List<List<string>>();
        var record = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var fieldStarted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                    else quoted = false;
                }
                else field.Append(c);
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0 && !fieldStarted: quoted = true; fieldStarted = true; break;
                case '"': throw new FormatException($"stray quote in record {records.Count + 1}");
                case ',': record.Add(field.ToString()); field.Clear(); fieldStarted = false; break;
                case '\r': break;
                case '\n':
                    record.Add(field.ToString()); field.Clear(); fieldStarted = false;
                    records.Add(record); record = [];
                    break;
                default: field.Append(c); fieldStarted = true; break;
            }
        }
        if (quoted) throw new FormatException("unterminated quoted field");
        if (field.Length > 0 || record.Count > 0 || fieldStarted) { record.Add(field.ToString()); records.Add(record); }
        return records;
    }
}
