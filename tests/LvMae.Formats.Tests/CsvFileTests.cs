using System.Text;

namespace LvMae.Formats.Tests;

/// <summary>The one CSV reader/writer: RFC 4180 quoting, BOM, line endings, and errors that name the file and line.</summary>
public sealed class CsvFileTests
{
    private static IReadOnlyList<CsvRecord> Read(string text, bool bom = false, bool comments = false) =>
        CsvFile.Read(new MemoryStream([.. bom ? Encoding.UTF8.GetPreamble() : [], .. Encoding.UTF8.GetBytes(text)]), "labels.csv", comments);

    [Fact]
    public void Quoted_cells_keep_commas_quotes_and_line_breaks_and_lines_are_counted_from_the_file()
    {
        var records = Read("id,note\r\n\r\nv1,\"a, b\"\r\nv2,\"say \"\"hi\"\"\"\nv3,\"two\nlines\"\nv4 ,  spaced  \n");
        Assert.Equal([1L, 3, 4, 5, 7], records.Select(r => r.Line));
        Assert.Equal(["v1", "a, b"], records[1].Cells);
        Assert.Equal("say \"hi\"", records[2].Cells[1]);
        Assert.Equal("two\nlines", records[3].Cells[1]);
        Assert.Equal(["v4", "spaced"], records[4].Cells);
    }

    [Fact]
    public void A_byte_order_mark_is_not_part_of_the_first_cell()
    {
        Assert.Equal("videoId", Read("videoId,label\nv1,a\n", bom: true)[0].Cells[0]);
    }

    [Fact]
    public void Comment_lines_are_skipped_only_when_asked()
    {
        Assert.Equal(["a.mp4", "x"], Assert.Single(Read("# files\na.mp4,x\n", comments: true)).Cells);
        Assert.Equal("# files", Read("# files\na.mp4,x\n")[0].Cells[0]);
    }

    [Theory]
    [InlineData("id,label\nv1,a\"b\n", 2, "a quote inside an unquoted field")]
    [InlineData("id,label\nv1,a\nv2,\"never closed\n", 3, "never closed")]
    [InlineData("id,label\nv1,\"ab\"c\n", 2, "text after the closing quote")]
    public void Malformed_quoting_names_the_file_and_line(string text, long line, string problem)
    {
        var error = Assert.Throws<CsvDataException>(() => Read(text));
        Assert.Equal(line, error.Line);
        Assert.Equal("labels.csv", error.File);
        Assert.StartsWith($"labels.csv line {line}: ", error.Message);
        Assert.Contains(problem, error.Problem);
    }

    [Fact]
    public void Written_cells_are_quoted_only_where_needed_and_read_back_unchanged()
    {
        IReadOnlyList<string>[] rows = [["videoId", "note", "tag"], ["v1", "a, b", "plain"], ["v2", "say \"hi\"", "ünïcode"], ["v3", "two\nlines", ""]];
        var bytes = CsvFile.ToBytes(rows);
        Assert.StartsWith("videoId,note,tag\nv1,\"a, b\",plain\nv2,\"say \"\"hi\"\"\",ünïcode\n", Encoding.UTF8.GetString(bytes));
        var back = CsvFile.Read(new MemoryStream(bytes), "x.csv");
        Assert.Equal(rows.Select(r => r.ToArray()), back.Select(r => r.Cells.ToArray()));
    }
}
