using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LvMae.Grains.Training;

/// <summary>
/// The run's plot (runs/&lt;run&gt;/plots/training.png): training loss against step (left axis) and probe top-1 accuracy against
/// step (right axis, 0..1; LV-MAE solid, raw-embedding baseline dashed), drawn with ScottPlot. Should ScottPlot's native
/// SkiaSharp not load on a host, <see cref="RenderFallback"/> draws the same two series without text (pixels + zlib).
/// </summary>
public static class RunPlotter
{
    /// <summary>The plot's name under runs/&lt;run&gt;/plots/.</summary>
    public const string TrainingPlot = LvMae.Runs.RunPlots.Training;

    private static readonly (byte R, byte G, byte B)[] Palette =
        [(214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75), (227, 119, 194), (23, 190, 207), (188, 189, 34)];

    public static byte[] Render(string run, IReadOnlyList<(long Step, double Loss)> loss, IReadOnlyDictionary<string, List<(long Step, double Value)>> probes, int width = 900, int height = 500)
    {
        try { return RenderScottPlot(run, loss, probes, width, height); }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or BadImageFormatException or EntryPointNotFoundException)
        {
            return RenderFallback(loss, probes, width, height);
        }
    }

    public static byte[] RenderScottPlot(string run, IReadOnlyList<(long Step, double Loss)> loss, IReadOnlyDictionary<string, List<(long Step, double Value)>> probes, int width, int height)
    {
        var plot = new ScottPlot.Plot();
        plot.Title($"LV-MAE run {run}");
        plot.XLabel("step");
        plot.Axes.Left.Label.Text = "training loss";
        if (loss.Count > 0)
        {
            var line = plot.Add.ScatterLine(loss.Select(l => (double)l.Step).ToArray(), loss.Select(l => l.Loss).ToArray());
            line.LegendText = "loss";
            line.LineWidth = 2;
        }
        var k = 0;
        foreach (var (name, points) in probes.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var ordered = points.OrderBy(p => p.Step).ToList();
            var (r, g, b) = Palette[k++ % Palette.Length];
            var series = plot.Add.Scatter(ordered.Select(p => (double)p.Step).ToArray(), ordered.Select(p => p.Value).ToArray());
            series.LegendText = name;
            series.Color = new ScottPlot.Color(r, g, b);
            series.MarkerSize = 6;
            if (name.Contains("/raw/", StringComparison.Ordinal)) series.LinePattern = ScottPlot.LinePattern.Dashed;
            series.Axes.YAxis = plot.Axes.Right;
        }
        if (probes.Count > 0)
        {
            plot.Axes.Right.Label.Text = "probe top-1 (held out)";
            plot.Axes.SetLimitsY(0, 1, plot.Axes.Right);
        }
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
    }

    public static byte[] RenderFallback(IReadOnlyList<(long Step, double Loss)> loss, IReadOnlyDictionary<string, List<(long Step, double Value)>> probes, int width = 800, int height = 500)
    {        var px = new byte[width * height * 3];
        Array.Fill(px, (byte)255);
        var maxStep = Math.Max(1, Math.Max(loss.Count > 0 ? loss.Max(l => l.Step) : 1, probes.Values.SelectMany(v => v).Select(p => p.Step).DefaultIfEmpty(1).Max()));
        const int margin = 20;
        var half = height / 2;
        var top = (X0: margin, Y0: margin, X1: width - margin, Y1: half - margin / 2);
        var bottom = (X0: margin, Y0: half + margin / 2, X1: width - margin, Y1: height - margin);

        void Set(int x, int y, (byte R, byte G, byte B) c)
        {
            if (x < 0 || y < 0 || x >= width || y >= height) return;
            var i = (y * width + x) * 3;
            (px[i], px[i + 1], px[i + 2]) = c;
        }
        void Line(int x0, int y0, int x1, int y1, (byte, byte, byte) c, int thick)
        {
            int dx = Math.Abs(x1 - x0), dy = -Math.Abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
            while (true)
            {
                for (var t = 0; t < thick; t++) { Set(x0, y0 + t, c); Set(x0 + t, y0, c); }
                if (x0 == x1 && y0 == y1) break;
                var e2 = 2 * err;
                if (e2 >= dy) { err += dy; x0 += sx; }
                if (e2 <= dx) { err += dx; y0 += sy; }
            }
        }
        void Frame((int X0, int Y0, int X1, int Y1) p)
        {
            var grey = ((byte)120, (byte)120, (byte)120);
            Line(p.X0, p.Y0, p.X1, p.Y0, grey, 1); Line(p.X0, p.Y1, p.X1, p.Y1, grey, 1);
            Line(p.X0, p.Y0, p.X0, p.Y1, grey, 1); Line(p.X1, p.Y0, p.X1, p.Y1, grey, 1);
        }
        void Series((int X0, int Y0, int X1, int Y1) p, IReadOnlyList<(long Step, double Value)> points, double lo, double hi, (byte, byte, byte) c, int thick)
        {
            int X(long s) => p.X0 + (int)Math.Round((p.X1 - p.X0) * (double)s / maxStep);
            int Y(double v) => p.Y1 - (int)Math.Round((p.Y1 - p.Y0) * Math.Clamp((v - lo) / Math.Max(hi - lo, 1e-12), 0, 1));
            for (var i = 1; i < points.Count; i++) Line(X(points[i - 1].Step), Y(points[i - 1].Value), X(points[i].Step), Y(points[i].Value), c, thick);
            foreach (var point in points) for (var d = -2; d <= 2; d++) { Set(X(point.Step) + d, Y(point.Value), c); Set(X(point.Step), Y(point.Value) + d, c); }
        }

        for (var g = 1; g < 10; g++)
        {
            var y = bottom.Y1 - (bottom.Y1 - bottom.Y0) * g / 10;
            Line(bottom.X0, y, bottom.X1, y, ((byte)225, (byte)225, (byte)225), 1);
        }
        Frame(top);
        Frame(bottom);
        var finite = loss.Where(l => double.IsFinite(l.Loss)).ToList();
        if (finite.Count > 0)
            Series(top, finite.Select(l => (l.Step, l.Loss)).ToList(), Math.Min(0, finite.Min(l => l.Loss)), finite.Max(l => l.Loss), (31, 119, 180), 2);
        var k = 0;
        foreach (var (name, points) in probes.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var raw = name.Contains("/raw/", StringComparison.Ordinal);
            Series(bottom, points.OrderBy(p => p.Step).ToList(), 0, 1, Palette[k++ % Palette.Length], raw ? 1 : 2);
        }
        return EncodePng(px, width, height);
    }

    public static byte[] EncodePng(byte[] rgb, int width, int height)
    {
        using var png = new MemoryStream();
        png.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
        Chunk(png, "IHDR", ihdr);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
                for (var y = 0; y < height; y++)
                {
                    z.WriteByte(0); // filter: none
                    z.Write(rgb, y * width * 3, width * 3);
                }
            Chunk(png, "IDAT", raw.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> buf = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(buf, data.Length);
        s.Write(buf);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        var crc = Crc32(typeBytes.Concat(data));
        BinaryPrimitives.WriteUInt32BigEndian(buf, crc);
        s.Write(buf);
    }

    private static uint Crc32(IEnumerable<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
