namespace LvMae.Media;

/// <summary>
/// A tiny deterministic encoder for tests and fast demos: hand-made colour, layout, texture and motion statistics of
/// 32x32 frames (128 dims). Integer pixels in, IEEE double arithmetic in a fixed order, no transcendental functions:
/// the same frames give the same embedding on every machine. Thread-safe (a pure function).
/// </summary>
public sealed class BuiltinEncoder : ISegmentEncoder
{
    public const int Size = 32;
    public const int Dim = 128;

    public string Name => "builtin";
    public string Version => "builtin-1";
    public int Dimension => Dim;
    public string Device => "cpu";
    public int FrameSize => Size;
    public int DefaultFramesPerSegment => 8;
    public int MaxBatchFrames => 4096;

    public float[] Encode(IReadOnlyList<SegmentFrames> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var output = new float[segments.Count * Dim];
        for (var i = 0; i < segments.Count; i++) EncodeSegment(segments[i], output.AsSpan(i * Dim, Dim));
        return output;
    }

    private static void EncodeSegment(SegmentFrames segment, Span<float> output)
    {
        if (segment.Size != Size) throw new ArgumentException($"builtin encoder needs {Size}x{Size} frames, got {segment.Size}x{segment.Size}");
        if (segment.Count < 1) throw new ArgumentException("a segment needs at least one frame");
        const int pixels = Size * Size;
        var acc = new double[Dim];
        var lum = new double[segment.Count][];
        var cellMeans = new double[segment.Count][]; // 4x4 luminance cell means per frame

        for (var f = 0; f < segment.Count; f++)
        {
            var frame = segment.Frame(f);
            var y = lum[f] = new double[pixels];
            double sr = 0, sg = 0, sb = 0, sr2 = 0, sg2 = 0, sb2 = 0, sat = 0, dark = 0, bright = 0;
            var grid = new double[48];
            var hist = new double[24];
            for (var p = 0; p < pixels; p++)
            {
                double r = frame[3 * p] / 255.0, g = frame[3 * p + 1] / 255.0, b = frame[3 * p + 2] / 255.0;
                var l = y[p] = 0.299 * r + 0.587 * g + 0.114 * b;
                sr += r; sg += g; sb += b; sr2 += r * r; sg2 += g * g; sb2 += b * b;
                var max = Math.Max(r, Math.Max(g, b));
                var min = Math.Min(r, Math.Min(g, b));
                sat += max > 0 ? (max - min) / max : 0;
                if (l < 0.2) dark++;
                if (l > 0.8) bright++;
                var cell = (p / Size / 8) * 4 + (p % Size) / 8;
                grid[3 * cell] += r; grid[3 * cell + 1] += g; grid[3 * cell + 2] += b;
                hist[Math.Min(7, frame[3 * p] >> 5)]++;
                hist[8 + Math.Min(7, frame[3 * p + 1] >> 5)]++;
                hist[16 + Math.Min(7, frame[3 * p + 2] >> 5)]++;
            }
            // 0..47: 4x4 colour layout, centred
            for (var i = 0; i < 48; i++) acc[i] += (grid[i] / 64.0 - 0.5) * 2;
            // 48..71: per-channel 8-bin histograms, centred on the uniform histogram
            for (var i = 0; i < 24; i++) acc[48 + i] += (hist[i] / pixels - 0.125) * 4;

            // 72..83: texture. Gradient magnitude per quadrant (4) and orientation histogram by octant (8), magnitude-weighted.
            var quadrant = new double[4];
            var orient = new double[8];
            double edges = 0, totalMag = 0;
            for (var r0 = 1; r0 < Size - 1; r0++)
                for (var c0 = 1; c0 < Size - 1; c0++)
                {
                    var gx = y[r0 * Size + c0 + 1] - y[r0 * Size + c0 - 1];
                    var gy = y[(r0 + 1) * Size + c0] - y[(r0 - 1) * Size + c0];
                    var mag = Math.Sqrt(gx * gx + gy * gy);
                    totalMag += mag;
                    quadrant[(r0 / 16) * 2 + c0 / 16] += mag;
                    if (mag > 0.1) edges++;
                    orient[Octant(gx, gy)] += mag;
                }
            for (var i = 0; i < 4; i++) acc[72 + i] += quadrant[i] / (15.0 * 15.0) * 4;
            for (var i = 0; i < 8; i++) acc[76 + i] += totalMag > 0 ? (orient[i] / totalMag - 0.125) * 4 : 0;

            // 84..87: channel spreads and luminance spread
            double mr = sr / pixels, mg = sg / pixels, mb = sb / pixels;
            acc[84] += Math.Sqrt(Math.Max(0, sr2 / pixels - mr * mr)) * 4;
            acc[85] += Math.Sqrt(Math.Max(0, sg2 / pixels - mg * mg)) * 4;
            acc[86] += Math.Sqrt(Math.Max(0, sb2 / pixels - mb * mb)) * 4;
            double ml = 0, ml2 = 0;
            for (var p = 0; p < pixels; p++) { ml += y[p]; ml2 += y[p] * y[p]; }
            ml /= pixels;
            acc[87] += Math.Sqrt(Math.Max(0, ml2 / pixels - ml * ml)) * 4;

            // 120..126: global colour, saturation, dark/bright fractions, edge density
            acc[120] += (mr - 0.5) * 2; acc[121] += (mg - 0.5) * 2; acc[122] += (mb - 0.5) * 2;
            acc[123] += (sat / pixels - 0.5) * 2;
            acc[124] += dark / pixels * 2;
            acc[125] += bright / pixels * 2;
            acc[126] += edges / ((Size - 2) * (Size - 2)) * 2;

            var cells = cellMeans[f] = new double[16];
            for (var p = 0; p < pixels; p++) cells[(p / Size / 8) * 4 + (p % Size) / 8] += y[p] / 64.0;
        }

        var n = segment.Count;
        for (var i = 0; i < 88; i++) acc[i] /= n;
        for (var i = 120; i < 127; i++) acc[i] /= n;

        // 88..103: motion, mean absolute luminance change between consecutive sampled frames per 4x4 cell
        // 104..119: temporal spread of each cell's mean luminance; 127: range of the frames' mean luminance
        if (n > 1)
        {
            for (var f = 1; f < n; f++)
            {
                var a = lum[f - 1];
                var b = lum[f];
                var cell = new double[16];
                for (var p = 0; p < pixels; p++) cell[(p / Size / 8) * 4 + (p % Size) / 8] += Math.Abs(b[p] - a[p]);
                for (var i = 0; i < 16; i++) acc[88 + i] += cell[i] / 64.0 * 4 / (n - 1);
            }
            double lo = double.MaxValue, hi = double.MinValue;
            for (var i = 0; i < 16; i++)
            {
                double m = 0, m2 = 0;
                for (var f = 0; f < n; f++) { m += cellMeans[f][i]; m2 += cellMeans[f][i] * cellMeans[f][i]; }
                m /= n;
                acc[104 + i] = Math.Sqrt(Math.Max(0, m2 / n - m * m)) * 4;
            }
            for (var f = 0; f < n; f++)
            {
                double m = 0;
                for (var i = 0; i < 16; i++) m += cellMeans[f][i] / 16;
                lo = Math.Min(lo, m); hi = Math.Max(hi, m);
            }
            acc[127] = (hi - lo) * 4;
        }

        for (var i = 0; i < Dim; i++) output[i] = (float)acc[i];
    }

    /// <summary>Gradient direction in eighths of a turn, from signs and magnitudes only (no atan2: bit-identical everywhere).</summary>
    private static int Octant(double gx, double gy)
    {
        double ax = Math.Abs(gx), ay = Math.Abs(gy);
        var steep = ay > ax;
        return (gx >= 0, gy >= 0) switch
        {
            (true, true) => steep ? 1 : 0,
            (false, true) => steep ? 2 : 3,
            (false, false) => steep ? 5 : 4,
            (true, false) => steep ? 6 : 7,
        };
    }

    public void Dispose() { }
}
