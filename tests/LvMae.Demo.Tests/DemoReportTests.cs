using LvMae.Contracts;
using LvMae.Demo;
using LvMae.Grains.Training;
using LvMae.Runs;

namespace LvMae.Demo.Tests;

/// <summary>The table and report on small fake inputs (no silo, no torch).</summary>
public sealed class DemoReportTests
{
    private static readonly IReadOnlyList<LabelColumn> Columns =
    [
        new("activity", "classification", ["A", "B", "C", "D"], 0.25, false),
        new("first_step", "classification", ["bars", "fractal", "life", "automaton", "testcard"], 0.2, false),
        new("num_steps", "classification", ["5", "6", "7", "8", "9"], 0.333, true),
        new("key_step_seconds", "regression", [], 6.4, true),
    ];

    private static ProbeScore Score(string features, string probe, double? top1, double? sd = 0.02, double? mse = null, string column = "activity") => new()
    {
        Column = column, Features = features, Probe = probe, Top1 = top1, Top1Sd = top1 is null ? null : sd, Mse = mse, MseSd = mse is null ? null : 1.5,
        Seeds = features == ProbeScore.Majority ? 1 : 3, Train = 88, Test = 72, Classes = 4,
    };

    /// <summary>Probe scores as a run reports them: baselines (data-only) and its own LV-MAE rows.</summary>
    private static TrainingProgress Run(string masking, double lvmaeAttentive) => new()
    {
        Run = DemoRunner.RunName(masking, 1),
        State = TrainingState.Done,
        Probes =
        [
            Score(ProbeScore.Majority, "baseline", 0.25, 0), Score(ProbeScore.Majority, "baseline", null, mse: 36.8, column: "key_step_seconds"),
            Score(ProbeScore.Raw, "linear", 0.20), Score(ProbeScore.Raw, "attentive", 0.22), Score(ProbeScore.Raw, "attentive+pos", 0.30),
            Score(ProbeScore.Raw, "regression", null, mse: 25.0, column: "key_step_seconds"),
            Score(ProbeScore.Raw, "linear", 0.40, column: "first_step"),
            Score(ProbeScore.Untrained, "linear", 0.21), Score(ProbeScore.Untrained, "attentive", 0.24),
            Score(ProbeScore.LvMae, "linear", 0.26), Score(ProbeScore.LvMae, "attentive", lvmaeAttentive),
            Score(ProbeScore.LvMae, "regression", null, mse: 30.0, column: "key_step_seconds"),
        ],
    };

    private static DemoResult Fake(double random = 0.70, double semantic = 0.66)
    {
        var runs = new[] { ("random", Run("random", random)), ("semantic", Run("semantic", semantic)) };
        var rows = DemoRunner.Rows(runs.Select(r => (r.Item1, (IReadOnlyList<ProbeScore>)r.Item2.Probes)).ToList(), Columns);
        var claims = runs.SelectMany(r => ProbeVerdict.Compare(r.Item2.Probes).Select(c => new DemoClaim(r.Item1, c))).ToList();
        var setup = new DemoSetup("quick", "abcdef0123456789", 160, 88, 72, 3400, 4.5, "builtin", 128, "small", 10, 16,
            "peak lr 0.001, warm-up 1 steps, cosine to 0 at step 10, batch 16", 3, "paper", "2 cores", true);
        var curves = new[] { new TrainingCurve("random", [1, 2, 3], [1.0, 0.8, 0.5], TimeSpan.FromSeconds(3)) };
        var retrieval = new[]
        {
            new RetrievalSummary("random", 8, 40, 0.6, 1.0, 0.125, 8,
                [new RetrievalExample("syn0003", 4, "life", ["life", "bars", "waves"], ["life", "fractal", "bars"], 0.91)])
            {
                PretrainingSeed = 1, NeighbourCopyHit = 0.64, ReconstructionCosine = 0.81, NeighbourCopyCosine = 0.76, MeanEmbeddingCosine = 0.69,
                Centred = new CentredRetrieval(1.0, 0.80, 0.66), Misses = new RetrievalMisses("bars", 0.7, 0.2),
            },
            new RetrievalSummary("random", 8, 40, 0.7, 1.0, 0.125, 8,
                [new RetrievalExample("syn0003", 4, "life", ["life", "bars", "waves"], ["bars", "life", "fractal"], 0.85)])
            {
                PretrainingSeed = 2, NeighbourCopyHit = 0.64, ReconstructionCosine = 0.83, NeighbourCopyCosine = 0.76, MeanEmbeddingCosine = 0.69,
                Centred = new CentredRetrieval(1.0, 0.84, 0.66), Misses = new RetrievalMisses("bars", 0.9, 0.2),
            },
        };
        var demoRuns = new[] { new DemoRun("random", "demo-random", "peak lr 0.001", 10, "cpu", new ExportInfo { Videos = 160, Width = 128, Blobs = ["runs/demo-random/export/cls.npy"] }) };
        var timings = new[] { new PhaseTiming("corpus", TimeSpan.FromSeconds(12), "24 videos"), new PhaseTiming("train + probe + export", TimeSpan.FromSeconds(70)) };
        return new DemoResult(setup, Columns, rows, claims, demoRuns, curves, retrieval, timings, ["a note"]);
    }

    [Fact]
    public void Table_has_the_majority_row_the_raw_rows_and_each_runs_rows_with_mean_and_sd()
    {
        var result = Fake();
        var header = DemoReport.Header(result.Columns);
        Assert.Equal(["features / probe", "activity top-1", "first_step top-1", "num_steps top-1", "key_step_seconds RMSE s (MSE)"], header);
        var rows = DemoReport.TableRows(result.Columns, result.Rows);
        Assert.Equal(1 + 3 + 2 * 2 * 3, rows.Count);   // majority, 3 raw, per masking step 0 and trained x (linear, attentive, attentive+pos)
        Assert.All(rows, r => Assert.Equal(header.Count, r.Count));
        Assert.Equal(["majority baseline", "25.0%", "-", "-", "6.07 (36.8)"], rows[0]);
        Assert.Equal(["raw embeddings, linear", "20.0% ± 2.0", "40.0% ± 2.0", "-", "5.00 (25.0 ± 1.5)"], rows[1]);
        Assert.Equal("raw embeddings, attentive+pos", rows[3][0]);
        Assert.Equal("-", rows[3][4]);   // no regression probe in attentive rows
        Assert.Equal(["LV-MAE (random masking) untrained (step 0), attentive", "24.0% ± 2.0", "-", "-", "-"], rows[5]);
        Assert.Equal(["LV-MAE (semantic masking), attentive", "66.0% ± 2.0", "-", "-", "-"], rows[14]);
        Assert.Equal(["LV-MAE (semantic masking), attentive+pos", "-", "-", "-", "-"], rows[15]);   // no such score in this fake
    }

    [Fact]
    public void The_claim_needs_every_run_to_beat_the_majority_and_both_raw_baselines()
    {
        var result = Fake();
        Assert.Equal("reproduced", DemoReport.ClaimVerdict(result.Claims));
        Assert.Equal([("random", 40.0), ("semantic", 36.0)], DemoReport.MarginOverRaw(result.Claims).Select(m => (m.Masking, Math.Round(m.Points, 6))));
        // Above raw attentive but not above the position-aware raw baseline: not a win.
        Assert.Equal("partly reproduced (1 of 2 runs)", DemoReport.ClaimVerdict(Fake(semantic: 0.29).Claims));
        // At the majority baseline is never a win, whatever the raw probes score.
        Assert.Equal("not reproduced", DemoReport.ClaimVerdict(Fake(random: 0.26, semantic: 0.25).Claims));
    }

    [Fact]
    public void Markdown_report_has_every_section()
    {
        var md = DemoReport.Markdown(Fake());
        Assert.Contains("| features / probe | activity top-1 |", md);
        Assert.Contains("| LV-MAE (random masking), attentive | 70.0% ± 2.0 |", md);
        Assert.Contains("**reproduced**", md);
        Assert.Contains("- random masking: LV-MAE attentive is +40.0 points above the best raw baseline", md);
        Assert.Contains("vs raw attentive+pos 30.0% ± 2.0", md);
        Assert.Contains("`demo-random` (random masking, device cpu): peak lr 0.001; export 160 videos x 128", md);
        Assert.Contains("![loss curves](loss.png)", md);
        Assert.Contains("![probe accuracy](probes.png)", md);
        Assert.Contains("| LV-MAE (random) | 2 | 8 | 40 | 100.0% ± 0.0 | 65.0% ± 7.1 | 64.0% ± 0.0 | 12.5% (1/8) |", md);
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
    public void Smooth_is_a_trailing_mean() => Assert.Equal([1.0, 1.5, 2.5], DemoReportWriter.Smooth([1, 2, 3], 2));

    [Fact]
    public void Several_pre_training_seeds_give_one_row_with_their_mean_and_sd_and_the_verdict_uses_that_sd()
    {
        var runs = new[] { 0.70, 0.74, 0.66 }.Select(a => (IReadOnlyList<ProbeScore>)Run("random", a).Probes).ToList();
        var over = DemoRunner.OverSeeds(runs);
        var lvmae = over.Single(s => s.Features == ProbeScore.LvMae && s.Probe == "attentive");
        Assert.Equal(0.70, lvmae.Top1!.Value, 9);
        Assert.Equal(0.04, lvmae.Top1Sd!.Value, 9);   // sample sd over the 3 pre-training seeds, not the probe seeds' 0.02
        Assert.Equal(3, lvmae.Seeds);
        var raw = over.Single(s => s.Features == ProbeScore.Raw && s.Probe == "attentive+pos");
        Assert.Equal(0.02, raw.Top1Sd!.Value, 9);     // data-only rows keep their probe-seed sd
        Assert.Equal(1, over.Count(s => s.Features == ProbeScore.Majority && s.Column == "activity"));

        var rows = DemoRunner.Rows([("random", over)], Columns);
        Assert.Equal(["LV-MAE (random masking), attentive", "70.0% ± 4.0", "-", "-", "-"], DemoReport.TableRows(Columns, rows)[^2]);
        // Beats raw attentive+pos (0.30 ± 0.02) by far more than 0.04 + 0.02; with one seed the run's own scores are used as they are.
        Assert.All(ProbeVerdict.Compare(over).Where(c => c.Probe == "attentive"), c => Assert.True(c.Beats));
        Assert.Equal(0.02, DemoRunner.OverSeeds([runs[0]]).Single(s => s.Features == ProbeScore.LvMae && s.Probe == "attentive").Top1Sd!.Value, 9);
    }

    [Fact]
    public void Retrieval_is_reported_as_mean_and_sd_over_the_pretraining_seeds_with_the_centred_diagnostic()
    {
        var md = DemoReport.Markdown(Fake());
        Assert.Contains("| LV-MAE (random) | 2 | 8 | 40 | 100.0% ± 0.0 | 65.0% ± 7.1 | 64.0% ± 0.0 | 12.5% (1/8) |", md);
        Assert.Contains("| LV-MAE (random) | 0.820 ± 0.014 | 0.760 ± 0.000 | 0.690 ± 0.000 |", md);
        Assert.Contains("| LV-MAE (random) | 100.0% ± 0.0 | 82.0% ± 2.8 | 66.0% ± 0.0 | 80.0% ± 14.1 | 20.0% ± 0.0 |", md);
        Assert.Contains("caption nearest the mean (here `bars`)", md);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(md, "Examples, LV-MAE"));   // one seed's examples
    }
}
