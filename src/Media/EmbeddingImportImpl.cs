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

    /// <summary>Most values one imported video may hold (2^28: 1 GiB as float32).</summary>
    private const long MaxValues = 1L << 28;

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

    private static (float[] Embeddings, int Count, int Dimension) ReadNpy(Stream stream, string path)
    {
        NpyArray array;
        try { array = NpyArray.Read(stream, MaxValues * 8); }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or OverflowException)
        {
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, e.Message, e);
        }
        var (count, dim) = CheckShape(array.Shape, array.DType, path);
        var values = array.ToFloats();
        CheckFinite(values, 0, fortran: false, count, dim, path);
        return (values, count, dim);
    }

    /// <summary>
    /// The checks of <see cref="ReadNpy(string)"/> on a .npy streamed from <paramref name="stream"/> (<paramref name="length"/>
    /// bytes in all), in constant memory whatever its size (a silo validating an import): its shape, or the named problem.
    /// </summary>
    public static (int Count, int Dimension) ValidateNpy(Stream stream, long length, string name)
    {
        try
        {
            var (count, dim, fortran) = (0, 0, false);
            NpyArray.ScanFloats(stream, length, MaxValues * 8,
                header => ((count, dim), fortran) = (CheckShape(header.Shape, header.CanonicalDType, name), header.FortranOrder),
                (values, first) => CheckFinite(values, first, fortran, count, dim, name));
            return (count, dim);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or OverflowException)
        {
            throw new MediaException(name, MediaErrorKind.BadEmbeddings, e.Message, e);
        }
    }

    /// <summary>A 2-d float array of a plausible size: its [segments, dim], or the named problem.</summary>
    private static (int Count, int Dimension) CheckShape(long[] shape, string dtype, string path)
    {
        if (shape.Length != 2)
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"expected a 2-d float32 array [segments, dim], got shape [{string.Join(", ", shape)}]");
        if (!NpyArray.IsFloatingPointDType(dtype))
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"expected float32 values (or float16/float64), got dtype '{dtype}'");
        var (count, dim) = (shape[0], shape[1]);
        if (count < 1 || dim < 1)
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"empty embeddings [{count}, {dim}]");
        if (dim > 1 << 16 || count > 1 << 20 || count * dim > MaxValues)
            throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"implausible embeddings shape [{count}, {dim}]");
        return ((int)count, (int)dim);
    }

    /// <summary>Values <paramref name="first"/>.. of a [count, dim] array (in file order: Fortran files run down columns) are all finite, or the named problem.</summary>
    private static void CheckFinite(ReadOnlySpan<float> values, long first, bool fortran, int count, int dim, string path)
    {
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
            {
                var at = first + i;
                var (row, column) = fortran ? (at % count, at / count) : (at / dim, at % dim);
                throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"non-finite value {values[i]} at row {row}, column {column}");
            }
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

    /// <summary>A headed labels CSV: the id column (one of <see cref="IdColumns"/>, anywhere) and label columns; errors name the file and line.</summary>
    public static LabelTable ReadLabels(string path)
    {
        if (!File.Exists(path)) throw new MediaException(path, MediaErrorKind.FileNotFound, "labels CSV not found");
        IReadOnlyList<CsvRecord> records;
        try { records = CsvFile.Read(path); }
        catch (CsvDataException e) { throw new MediaException(path, MediaErrorKind.BadEmbeddings, e.Line > 0 ? $"line {e.Line}: {e.Problem}" : e.Problem, e); }
        catch (IOException e) { throw new MediaException(path, MediaErrorKind.BadEmbeddings, $"cannot be read: {e.Message}", e); }
        if (records.Count == 0) throw new MediaException(path, MediaErrorKind.BadEmbeddings, "labels CSV is empty");
        MediaException Bad(long line, string problem) => new(path, MediaErrorKind.BadEmbeddings, $"line {line}: {problem}");

        var header = records[0].Cells;
        var idIndex = -1;
        foreach (var name in IdColumns)
        {
            idIndex = header.ToList().FindIndex(h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
            if (idIndex >= 0) break;
        }
        if (idIndex < 0) throw Bad(records[0].Line, $"no id column (one of {string.Join(", ", IdColumns)}) in the header {LabelRules.Quote(string.Join(",", header))}");
        var labelColumns = header.Where((_, i) => i != idIndex).ToList();
        if (labelColumns.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw Bad(records[0].Line, $"column {LabelRules.Quote(twice.Key)} appears twice in the header");

        var rows = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        var lines = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (line, cells) in records.Skip(1))
        {
            if (cells.All(c => c.Length == 0)) continue; // a blank line of separators or spaces
            if (cells.Count != header.Count) throw Bad(line, $"{LabelRules.Cells(cells.Count)}, the header has {header.Count}");
            var id = cells[idIndex];
            if (!VideoIds.IsValid(id)) throw Bad(line, $"{LabelRules.Quote(id)} is not a valid video id");
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < header.Count; i++)
            {
                if (i == idIndex) continue;
                var label = header[i] == LabelRules.SplitColumn && cells[i].Length > 0 ? $"{header[i]}={cells[i]}" : cells[i];
                if (LabelRules.Problem(label) is { } problem) throw Bad(line, $"column {LabelRules.Quote(header[i])}: {problem}");
                values[header[i]] = cells[i];
            }
            if (!rows.TryAdd(id, values)) throw Bad(line, $"video id {LabelRules.Quote(id)} already appears on line {lines[id]}");
            lines[id] = line;
        }
        return new LabelTable(header[idIndex], labelColumns, rows);
    }
}
