namespace LvMae.Bench;

/// <summary>
/// Results a suite keeps inside a hand-written page of docs/ (e.g. RELIABILITY.md): the text between
/// `&lt;!-- NAME-results:begin --&gt;` and `&lt;!-- NAME-results:end --&gt;` is replaced, the rest of the page is left alone.
/// </summary>
public static class DocResults
{
    /// <summary>Replaces the results named <paramref name="name"/> in docs/<paramref name="page"/>; false (and a note) when the page or its markers are missing.</summary>
    public static bool Write(string page, string name, string command, string markdown)
    {
        var path = Path.Combine(BenchmarkReport.FindRoot(), "docs", page);
        var (begin, end) = ($"<!-- {name}-results:begin -->", $"<!-- {name}-results:end -->");
        var text = File.Exists(path) ? File.ReadAllText(path) : "";
        var (b, e) = (text.IndexOf(begin, StringComparison.Ordinal), text.IndexOf(end, StringComparison.Ordinal));
        if (b < 0 || e < b)
        {
            Console.WriteLine($"{path} has no {begin} ... {end} markers: results not written there");
            return false;
        }
        var stamp = $"_Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores; command: `{command}`_\n\n";
        File.WriteAllText(path, text[..(b + begin.Length)] + "\n" + stamp + markdown.Trim() + "\n" + text[e..]);
        Console.WriteLine($"wrote {name} results into {path}");
        return true;
    }
}
