using System.Text.Json;
using ScottPlot;

namespace LvMae.Demo;

/// <summary>Writes report.md, results.json and the PNG plots (ScottPlot) of a <see cref="DemoResult"/> into a folder.</summary>
public static class DemoReportWriter
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Returns the paths written.</summary>
    public static IReadOnlyList<string> Write(DemoResult result, string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        var loss = Path.Combine(directory, DemoReport.LossPlotFileName);
        LossPlot(result.Curves).SavePng(loss, 900, 500);
        files.Add(loss);
        var probes = Path.Combine(directory, DemoReport.ProbePlotFileName);
        ProbePlot(result.Columns, result.Rows).SavePng(probes, 1100, 550);
        files.Add(probes);
        var md = Path.Combine(directory, DemoReport.ReportFileName);
        File.WriteAllText(md, DemoReport.Markdown(result));
        files.Add(md);
        var json = Path.Combine(directory, DemoReport.ResultsFileName);
        File.WriteAllText(json, JsonSerializer.Serialize(result, Json));
        files.Add(json);
        return files;
    }

    /// <summary>Pre-training loss (log10) against step, one line per masking (a moving average over 1% of the steps, raw loss faint).</summary>
    public static Plot LossPlot(IReadOnlyList<TrainingCurve> curves)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (var i = 0; i < curves.Count; i++)
        {
            var c = curves[i];
            if (c.Steps.Length == 0) continue;
            var xs = c.Steps.Select(s => (double)s).ToArray();
            var color = palette.GetColor(i);
            var log = c.Loss.Select(l => Math.Log10(Math.Max(l, 1e-12))).ToArray();
            var faint = plot.Add.ScatterLine(xs, log);
            faint.Color = color.WithAlpha(0.25);
            faint.LineWidth = 1;
            var smooth = plot.Add.ScatterLine(xs, Smooth(log, Math.Max(1, log.Length / 100)));
            smooth.Color = color;
            smooth.LineWidth = 2;
            smooth.LegendText = c.Masking;
        }
        plot.Title("LV-MAE pre-training loss (masked-token MSE on normalised embeddings)");
        plot.XLabel("step");
        plot.YLabel("log10 loss");
        plot.ShowLegend();
        return plot;
    }

    /// <summary>Probe accuracy bars (mean ± sd) per classification column, one bar per probe row of the table, with the
    /// majority baseline as a dashed line.</summary>
    public static Plot ProbePlot(IReadOnlyList<LabelColumn> columns, IReadOnlyList<ProbeRow> allRows)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var classification = columns.Where(c => !c.IsRegression).ToList();
        var majority = allRows.FirstOrDefault(r => r.Features == LvMae.Contracts.ProbeScore.Majority);
        var rows = allRows.Where(r => r != majority).ToList();
        var group = rows.Count + 1;
        var ticks = new List<Tick>();
        for (var ci = 0; ci < classification.Count; ci++)
        {
            var column = classification[ci];
            for (var ri = 0; ri < rows.Count; ri++)
            {
                if (rows[ri].Cell(column.Column)?.Top1 is not { } top1) continue;
                var bar = new Bar
                {
                    Position = ci * group + ri,
                    Value = 100 * top1,
                    FillColor = palette.GetColor(ri),
                    Error = 100 * (rows[ri].Cell(column.Column)?.Top1Std ?? 0),
                };
                plot.Add.Bar(bar);
            }
            if (majority?.Cell(column.Column)?.Top1 is { } baseline)
            {
                var line = plot.Add.Line(ci * group - 0.5, 100 * baseline, ci * group + rows.Count - 0.5, 100 * baseline);
                line.LinePattern = LinePattern.Dashed;
                line.Color = Colors.Black;
            }
            ticks.Add(new Tick(ci * group + (rows.Count - 1) / 2.0, column.Column));
        }
        for (var ri = 0; ri < rows.Count; ri++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = rows[ri].Name, FillColor = palette.GetColor(ri) });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "majority baseline", LineColor = Colors.Black, LinePattern = LinePattern.Dashed, LineWidth = 1 });
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.SetLimitsY(0, 105);
        plot.Title("Held-out top-1 accuracy: raw embeddings vs LV-MAE features");
        plot.YLabel("top-1 (%)");
        return plot;
    }

    public static double[] Smooth(double[] values, int window)
    {
        var result = new double[values.Length];
        double sum = 0;
        for (var i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }
}
