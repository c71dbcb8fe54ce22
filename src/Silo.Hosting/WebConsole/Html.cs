using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Unicode;

namespace LvMae.Silo.WebConsole;

/// <summary>
/// A small HTML writer: every text and attribute value goes through <see cref="E"/> (HTML-encoded), every URL part through
/// <see cref="U"/>; markup is only ever the writer's own literals. The console's pages are built with it, nothing else.
/// </summary>
public sealed class Html
{
    private static readonly HtmlEncoder Encoder = HtmlEncoder.Create(UnicodeRanges.All);
    private readonly StringBuilder _sb = new(8192);

    /// <summary>HTML-encodes text (element content or a quoted attribute value).</summary>
    public static string E(string? text) => text is null ? "" : Encoder.Encode(text);

    /// <summary>Escapes a URL path segment or query value.</summary>
    public static string U(string text) => Uri.EscapeDataString(text);

    /// <summary>Invariant number formats: whole numbers with thousands separators, others with <paramref name="format"/>.</summary>
    public static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
    public static string N(double? value, string format = "G4") => value is { } v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
    public static string T(DateTimeOffset? at) => at is { } t && t != default ? t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "-";
    public static string D(TimeSpan? span) => span is not { } s ? "-"
        : s.TotalDays >= 1 ? $"{(int)s.TotalDays}d {s.Hours:00}h{s.Minutes:00}m" : s.TotalHours >= 1 ? $"{(int)s.TotalHours}h{s.Minutes:00}m" : $"{s.Minutes}m{s.Seconds:00}s";

    /// <summary>Appends trusted markup (the writer's own literals only).</summary>
    public Html Raw(string markup) { _sb.Append(markup); return this; }

    /// <summary>Appends encoded text.</summary>
    public Html Text(string? text) { _sb.Append(E(text)); return this; }

    /// <summary>&lt;tag attributes&gt;text&lt;/tag&gt; with the text encoded; <paramref name="attributes"/> are written as given (build them with <see cref="E"/>).</summary>
    public Html El(string tag, string? text, string attributes = "")
    {
        _sb.Append('<').Append(tag);
        if (attributes.Length > 0) _sb.Append(' ').Append(attributes);
        _sb.Append('>').Append(E(text)).Append("</").Append(tag).Append('>');
        return this;
    }

    public Html Link(string href, string? text, string attributes = "") => El("a", text, $"href=\"{E(href)}\"{(attributes.Length > 0 ? " " + attributes : "")}");

    /// <summary>A two-column table of name/value rows; the values are encoded text. <paramref name="id"/> names the table for tests.</summary>
    public Html Facts(string id, IEnumerable<(string Name, string? Value)> rows)
    {
        _sb.Append("<table class=\"facts\" id=\"").Append(E(id)).Append("\">");
        foreach (var (name, value) in rows)
            _sb.Append("<tr data-key=\"").Append(E(name)).Append("\"><th>").Append(E(name)).Append("</th><td>").Append(E(value ?? "-")).Append("</td></tr>");
        _sb.Append("</table>");
        return this;
    }

    /// <summary>A POST form with one button (the console's actions); <paramref name="fields"/> become hidden inputs.</summary>
    public Html Button(string action, string label, string id, params (string Name, string Value)[] fields)
    {
        _sb.Append("<form method=\"post\" class=\"action\" action=\"").Append(E(action)).Append("\">");
        foreach (var (name, value) in fields)
            _sb.Append("<input type=\"hidden\" name=\"").Append(E(name)).Append("\" value=\"").Append(E(value)).Append("\">");
        _sb.Append("<button type=\"submit\" id=\"").Append(E(id)).Append("\">").Append(E(label)).Append("</button></form>");
        return this;
    }

    public override string ToString() => _sb.ToString();

    private const string Style = """
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
        header{background:#1f2937;padding:8px 16px}header a{color:#e5e7eb;margin-right:16px;text-decoration:none;font-weight:600}
        header a.here{color:#fff;border-bottom:2px solid #60a5fa}
        main{padding:12px 20px;max-width:1400px}h1{font-size:20px;margin:8px 0 12px}h2{font-size:16px;margin:20px 0 8px}
        table{border-collapse:collapse;background:#fff;margin:4px 0 12px}th,td{border:1px solid #d7dbe0;padding:3px 8px;text-align:left;vertical-align:top}
        th{background:#eef1f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
        table.facts th{width:14em}.muted{color:#6b7280}.warn{color:#9a3412}.bad{color:#b91c1c}.ok{color:#15803d}
        .notice{background:#ecfdf5;border:1px solid #a7f3d0;padding:6px 10px;margin:8px 0}
        .error{background:#fef2f2;border:1px solid #fecaca;padding:10px 14px;margin:8px 0}
        form.action{display:inline;margin:0 4px 0 0}button{cursor:pointer}form.filters{background:#fff;border:1px solid #d7dbe0;padding:8px;margin:6px 0 10px}
        form.filters label{margin-right:12px}code{font-size:12px}svg{background:#fff;border:1px solid #d7dbe0;margin:4px 12px 12px 0}
        .charts{display:flex;flex-wrap:wrap;align-items:flex-start;gap:0 12px}.pager a{margin-right:16px}
        """;

    /// <summary>The whole page: head (title, inline style, an optional refresh while work runs), navigation, then <paramref name="body"/>.</summary>
    public static string Page(string title, string section, string body, int? refreshSeconds = null)
    {
        var sb = new StringBuilder(body.Length + 2048);
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">");
        if (refreshSeconds is { } r) sb.Append("<meta http-equiv=\"refresh\" content=\"").Append(r).Append("\">");
        sb.Append("<title>").Append(E(title)).Append(" - LvMae console</title><style>").Append(Style).Append("</style></head><body><header><nav>");
        foreach (var (href, name) in new[] { ("/console", "Corpus"), ("/console/videos", "Videos"), ("/console/runs", "Training runs"), ("/dashboard", "Orleans dashboard") })
            sb.Append("<a href=\"").Append(href).Append('"').Append(name == section ? " class=\"here\"" : "").Append('>').Append(name).Append("</a>");
        sb.Append("</nav></header><main><h1>").Append(E(title)).Append("</h1>").Append(body).Append("</main></body></html>");
        return sb.ToString();
    }
}
