using System.Globalization;
using System.Text;

namespace LvMae.Silo.WebConsole;

/// <summary>A line chart as inline SVG (no script, no library): one series of (x, y) points, axes with min/max labels.</summary>
public static class SvgChart
{
    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
    private static string L(double v) => Math.Abs(v) is >= 1e4 or < 1e-3 and > 0 ? v.ToString("0.##E0", CultureInfo.InvariantCulture) : v.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>The chart of <paramref name="points"/> (non-finite ones left out); "no data" when none is left.
    /// <paramref name="id"/> names the element (tests read its data-points attribute: the number of points drawn).</summary>
    public static string Line(string id, string title, string xLabel, IEnumerable<(double X, double Y)> points, int width = 560, int height = 220, string colour = "#2563eb")
    {
        var data = points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        const int left = 64, right = 12, top = 24, bottom = 34;
        var (w, h) = (width - left - right, height - top - bottom);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg id=\"{Html.E(id)}\" data-points=\"{data.Count}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{Html.E(title)}\">");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"16\" font-size=\"13\" font-weight=\"600\">{Html.E(title)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{top}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#9ca3af\"/>");
        if (data.Count == 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + w / 2}\" y=\"{top + h / 2}\" text-anchor=\"middle\" fill=\"#6b7280\">no data yet</text></svg>");
            return sb.ToString();
        }
        var (x0, x1) = (data.Min(p => p.X), data.Max(p => p.X));
        var (y0, y1) = (data.Min(p => p.Y), data.Max(p => p.Y));
        if (x1 == x0) { x0 -= 1; x1 += 1; }
        if (y1 == y0) { var pad = Math.Abs(y0) * 0.05 + 1e-9; y0 -= pad; y1 += pad; }
        double X(double x) => left + (x - x0) / (x1 - x0) * w;
        double Y(double y) => top + h - (y - y0) / (y1 - y0) * h;
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 4}\" y=\"{top + 10}\" text-anchor=\"end\" font-size=\"11\">{L(y1)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 4}\" y=\"{top + h}\" text-anchor=\"end\" font-size=\"11\">{L(y0)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"{top + h + 14}\" font-size=\"11\">{L(x0)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + w}\" y=\"{top + h + 14}\" text-anchor=\"end\" font-size=\"11\">{L(x1)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + w / 2}\" y=\"{height - 4}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#4b5563\">{Html.E(xLabel)}</text>");
        sb.Append("<polyline fill=\"none\" stroke=\"").Append(Html.E(colour)).Append("\" stroke-width=\"1.6\" points=\"");
        foreach (var (x, y) in data) sb.Append(F(X(x))).Append(',').Append(F(Y(y))).Append(' ');
        sb.Append("\"/>");
        if (data.Count <= 60)
            foreach (var (x, y) in data)
                sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(X(x))}\" cy=\"{F(Y(y))}\" r=\"2.2\" fill=\"{Html.E(colour)}\"><title>{L(x)}: {L(y)}</title></circle>");
        sb.Append("</svg>");
        return sb.ToString();
    }
}
