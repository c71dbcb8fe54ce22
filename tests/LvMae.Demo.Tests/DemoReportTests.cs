using LvMae.Demo;

namespace LvMae.Demo.Tests;

/// <summary>The table and report on small fake inputs (no silo, no torch).</summary>
public sealed class DemoReportTests
{
    private static readonly IReadOnlyList<LabelColumn> Columns =
    [
        new("activity", "classification", ["A", "B", "C", "D"], 0.25, 0.25, false),
        new("first_step", "classification", ["bars", "fractal", "life", "automaton", "testcard"], 0.2, 0.219, false),
        new("num_steps", "classification", ["5", "6", "7", "8", "9"], 0.333, 0.156, true),
        new("key_step_seconds", "regression", [], 6.4, 6.06, true),
    ];

    private static ProbeRow Row(string features, string? masking, string probe, double activity, double? mse = null) =>
        new(features, masking, probe,
        [
            new ProbeCell("activity", activity, 0.02, null, 3),
            new ProbeCell("first_step", 0.3, 0.0, null, 3),
            new ProbeCell("num_steps", 0.4, 0.01, null, 3),
            .. mse is { } m ? new[] { new ProbeCell("key_step_seconds", null, null, m, 3) } : [],
        ]);

    private static DemoResult Fake(double lvMaeActivity = 0.75)
    {
        var rows = new List<ProbeRow>
        {
            Row("raw", null, "linear", 0.25, 36),
            Row("raw", null, "attentive", 0.28),
            Row("raw", null, "attentive+pos", 0.40),
            Row("lv-mae", "random", "linear", lvMaeActivity, 25),
            Row("lv-mae", "random", "attentive", lvMaeActivity + 0.05),
            Row("lv-mae", "semantic", "linear", lvMaeActivity - 0.1, 30),
            Row("lv-mae", "semantic", "attentive", lvMaeActivity),
        };
        var setup = new DemoSetup("quick", "abcdef0123456789", 24, 16, 8, 386, 0.53, "builtin", 128, "small", 10, 16, 5e-4, 3, "paper", "2 cores", true);
        var curves = new[] { new TrainingCurve("random", [1, 2, 3], [1.0, 0.8, 0.5], TimeSpan.FromSeconds(3), 300) };
        var retrieval = new[]
        {
            new RetrievalSummary("random", 8, 40, 0.6, 1.0, 0.125, 8,
                [new RetrievalExample("syn0003", 4, "life", ["life", "bars", "waves"], ["life", "fractal", "bars"], 0.91)]),
        };
        var timings = new[] { new PhaseTiming("corpus", TimeSpan.FromSeconds(12), "24 videos"), new PhaseTiming("probe", TimeSpan.FromSeconds(70)) };
        return new DemoResult(setup, Columns, rows, curves, retrieval, timings, ["a note"]);
    }

    [Fact]
    public void Table_has_a_baseline_row_and_one_row_per_probe_and_a_column_per_label()
    {
        var result = Fake();
        var header = DemoReport.Header(result.Columns);
        Assert.Equal(["features / probe", "activity top-1", "first_step top-1", "num_steps top-1", "key_step_seconds RMSE s (MSE)"], header);
        var rows = DemoReport.TableRows(result.Columns, result.Rows);
        Assert.Equal(1 + 7, rows.Count);
        Assert.All(rows, r => Assert.Equal(header.Count, r.Count));
        Assert.Equal(["majority baseline (chance)", "25.0% (25.0%)", "21.9% (20.0%)", "15.6% (33.3%)", "6.06 (36.7)"], rows[0]);
        Assert.Equal("raw embeddings, linear", rows[1][0]);
        Assert.Equal("25.0% ± 2.0", rows[1][1]);
        Assert.Equal("6.00 (36.0)", rows[1][4]);
        Assert.Equal("-", rows[2][4]);   // no regression probe for attentive rows
        Assert.Equal("LV-MAE (semantic masking), attentive", rows[7][0]);
    }

    [Fact]
    public void Claim_compares_the_same_probe_and_the_positional_baseline()
    {
        var checks = DemoReport.Claim(Fake());
        Assert.Equal(6, checks.Count); // 2 maskings x (linear, attentive) + 2 attentive vs attentive+pos
        var linear = checks.Single(c => c.Masking == "random" && c.Probe == "linear");
        Assert.Equal(0.25, linear.Raw, 6);
        Assert.True(linear.Beats);
        Assert.Equal(0.125, linear.Margin, 6); // one of 8 test videos
        Assert.Equal("reproduced", DemoReport.ClaimVerdict(checks));

        var poor = DemoReport.Claim(Fake(lvMaeActivity: 0.27));
        Assert.Equal("not reproduced", DemoReport.ClaimVerdict(poor));
        var partly = DemoReport.Claim(Fake(lvMaeActivity: 0.43));
        Assert.StartsWith("partly reproduced", DemoReport.ClaimVerdict(partly));
    }

    [Fact]
    public void Markdown_report_has_every_section()
    {
        var md = DemoReport.Markdown(Fake());
        Assert.Contains("| features / probe | activity top-1 |", md);
        Assert.Contains("LV-MAE (random masking), linear", md);
        Assert.Contains("**reproduced**", md);
        Assert.Contains("![loss curves](loss.png)", md);
        Assert.Contains("![probe accuracy](probes.png)", md);
        Assert.Contains("| LV-MAE (random) | 8 | 40 | 100.0% | 60.0% | - | 12.5% (1/8) |", md);
        Assert.Contains("| syn0003 | 4 | life | life, bars, waves | **life**, fractal, bars | 0.910 |", md);
        Assert.Contains("| **total** | **1 min 22 s** | **0.0 s** | |", md);
    }

    [Fact]
    public void Writer_produces_markdown_json_and_png_plots()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-demo-report-").FullName;
        try
        {
            var files = DemoReportWriter.Write(Fake(), dir);
            Assert.Equal(4, files.Count);
            foreach (var f in files) Assert.True(new FileInfo(f).Length > 100, f);
            foreach (var png in files.Where(f => f.EndsWith(".png")))
                Assert.Equal(new byte[] { 137, 80, 78, 71 }, File.ReadAllBytes(png)[..4]);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Standardise_uses_train_statistics_and_smooth_is_a_trailing_mean()
    {
        var train = new LvMae.Model.Probing.ProbeSet([new float[] { 1, 10, 3, 30 }], null, 2);
        var test = new LvMae.Model.Probing.ProbeSet([new float[] { 2, 20 }], null, 2);
        var (tr, te) = LvMae.Model.Probing.ProbeSet.Standardise(train, test);
        Assert.Equal(-1, tr.Tokens[0][0], 3);
        Assert.Equal(1, tr.Tokens[0][3], 3);
        Assert.Equal(0, te.Tokens[0][0], 3);
        Assert.Equal(0, te.Tokens[0][1], 3);
        Assert.Equal([1.0, 1.5, 2.5], DemoReportWriter.Smooth([1, 2, 3], 2));
    }
}
