using Spectre.Console;
using Spectre.Console.Rendering;

namespace LvMae.Cli;

/// <summary>One cell of a <see cref="ResultTable"/>: plain text and, on a terminal, an optional Spectre style ("red", "bold").</summary>
public readonly record struct Cell(string Text, string? Style = null)
{
    public static implicit operator Cell(string? text) => new(text ?? "");
}

/// <summary>
/// A table of results. On a terminal it is a Spectre table fitted to the window. When output goes to a file or a pipe it
/// is one line per row, header first, cells separated by tabs, whole and unstyled: a file name split over two lines, as a
/// table wrapped to an imagined 80 columns would print it, is a name a script cannot find.
/// </summary>
public sealed class ResultTable(params string[] columns)
{
    private readonly List<Cell[]> _rows = [];

    public string? Title { get; init; }

    public ResultTable Row(params Cell[] cells)
    {
        if (cells.Length != columns.Length) throw new ArgumentException($"{cells.Length} cells for {columns.Length} columns");
        _rows.Add(cells);
        return this;
    }

    public void Write()
    {
        if (CliConsole.IsTerminal)
        {
            var table = new Table();
            if (Title is not null) table.Title(Markup.Escape(Title));
            foreach (var column in columns) table.AddColumn(Markup.Escape(column));
            foreach (var row in _rows)
                table.AddRow(row.Select(c => (IRenderable)(c.Style is null ? new Text(c.Text) : new Text(c.Text, Style.Parse(c.Style)))).ToArray());
            AnsiConsole.Write(table);
            return;
        }
        var writer = AnsiConsole.Profile.Out.Writer;
        if (Title is not null) writer.WriteLine(Plain(Title));
        writer.WriteLine(string.Join('\t', columns.Select(Plain)));
        foreach (var row in _rows) writer.WriteLine(string.Join('\t', row.Select(c => Plain(c.Text))));
        writer.Flush();
    }

    /// <summary>A cell on one line: tabs and line breaks inside it are written as \t, \n, \r.</summary>
    private static string Plain(string text) => text.Replace("\t", "\\t").Replace("\r", "\\r").Replace("\n", "\\n");
}

/// <summary>How the CLI writes to its console.</summary>
public static class CliConsole
{
    /// <summary>Output goes to a terminal (not redirected to a file or a pipe).</summary>
    public static bool IsTerminal => AnsiConsole.Profile.Out.IsTerminal;

    /// <summary>
    /// Called once per command line: when output is redirected, lines are never wrapped (Spectre would wrap them at an
    /// assumed 80 columns, splitting paths and messages a script reads).
    /// </summary>
    public static void Prepare()
    {
        if (!IsTerminal) AnsiConsole.Profile.Width = 1 << 16;
    }
}
