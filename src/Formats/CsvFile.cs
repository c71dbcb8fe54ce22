using System.Text;
using CsvHelper;

namespace LvMae.Formats;

/// <summary>One record of a CSV file: the line it starts on (1-based, counting every line) and its cells.</summary>
public sealed record CsvRecord(long Line, IReadOnlyList<string> Cells);

/// <summary>A CSV file that cannot be read as CSV, or a record that breaks the file's rules: names the file and the line.</summary>
public sealed class CsvDataException(string file, long line, string problem, Exception? inner = null)
    : Exception(line > 0 ? $"{file} line {line}: {problem}" : $"{file}: {problem}", inner)
{
    public string File { get; } = file;
    /// <summary>1-based line of the record at fault; 0 when the problem is the whole file.</summary>
    public long Line { get; } = line;
    public string Problem { get; } = problem;
}

/// <summary>
/// Every CSV the project reads or writes (labels files, export indexes), through CsvHelper: RFC 4180 quoting (commas,
/// quotes and line breaks inside quoted cells), a UTF-8 byte order mark, CRLF or LF. Reading trims spaces around unquoted
/// cells and skips empty lines; records may differ in length (the caller decides what a row must hold). Writing quotes
/// only the cells that need it and ends lines with LF.
/// </summary>
public static class CsvFile
{
    /// <summary>Longest record read (a stray quote at the top of a huge file must not swallow it into one cell).</summary>
    public const int MaxRecordBytes = 64 << 20;

    /// <summary>Reads every record of <paramref name="path"/>; with <paramref name="comments"/>, lines starting with '#' are skipped.</summary>
    public static IReadOnlyList<CsvRecord> Read(string path, bool comments = false)
    {
        using var stream = File.OpenRead(path);
        return Read(stream, path, comments);
    }

    /// <summary>Reads every record; <paramref name="name"/> is the file name errors give.</summary>
    public static IReadOnlyList<CsvRecord> Read(Stream stream, string name, bool comments = false)
    {
        var options = new CsvReaderOptions
        {
            HasHeader = false,
            Separator = ',',
            MalformedData = CsvMalformedDataHandling.Throw,
            TrackLineNumbers = true,
            SkipEmptyLines = true,
            TrimWhitespace = true,
            CommentPrefix = comments ? '#' : null,
            MaxRecordSize = MaxRecordBytes,
        };
        var records = new List<CsvRecord>();
        try
        {
            using var reader = CsvReader.Create(stream, options, leaveOpen: true);
            while (reader.Read()) records.Add(new CsvRecord(reader.LineNumber, reader.Current.ToArray()));
        }
        catch (CsvFormatException e)
        {
            throw new CsvDataException(name, e.LineNumber, Describe(e.Message), e);
        }
        catch (DecoderFallbackException e)
        {
            throw new CsvDataException(name, 0, "is not UTF-8 text", e);
        }
        return records;
    }

    /// <summary>Writes <paramref name="rows"/> to <paramref name="path"/> (through a temporary file, so a reader never sees half of it).</summary>
    public static void Write(string path, IEnumerable<IReadOnlyList<string>> rows)
    {
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, ToBytes(rows));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The rows as UTF-8 CSV (no byte order mark).</summary>
    public static byte[] ToBytes(IEnumerable<IReadOnlyList<string>> rows)
    {
        using var stream = new MemoryStream();
        using (var writer = CsvWriter.Create(stream, new CsvWriterOptions { NewLine = "\n", ValidateFieldCount = false }, leaveOpen: true))
        {
            foreach (var row in rows)
            {
                foreach (var cell in row) writer.WriteField(cell);
                writer.EndRecord();
            }
        }
        return stream.ToArray();
    }

    /// <summary>CsvHelper's message without the position it also carries (the line is in ours).</summary>
    private static string Describe(string message)
    {
        var colon = message.IndexOf("): ", StringComparison.Ordinal);
        var text = colon >= 0 ? message[(colon + 3)..] : message;
        var offset = text.LastIndexOf(" (byte offset", StringComparison.Ordinal);
        return offset >= 0 ? text[..offset] : text;
    }
}
