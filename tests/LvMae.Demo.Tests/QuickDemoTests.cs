using LvMae.Contracts;
using LvMae.Demo;

namespace LvMae.Demo.Tests;

/// <summary>`lvmae demo --quick` end to end, in-process: quick corpus, Azurite + silo, builtin encoder, training runs through
/// the training grain (feed, prober, exporter), report.</summary>
public sealed class QuickDemoTests
{
    [Fact]
    public async Task Quick_demo_runs_end_to_end_and_writes_the_report()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-demo-quick-").FullName;
        try
        {
            var console = new SilentDemoConsole();
            var options = DemoOptions.QuickRun(dir) with { Steps = 150, CorpusParallelism = 2, ProbeEpochs = 10 };
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(8));
            var result = await new DemoRunner(options, console).RunAsync(cts.Token);

            // Report files.
            foreach (var name in new[] { DemoReport.ReportFileName, DemoReport.ResultsFileName, DemoReport.LossPlotFileName, DemoReport.ProbePlotFileName })
            {
                var path = Path.Combine(dir, "report", name);
                Assert.True(File.Exists(path) && new FileInfo(path).Length > 100, $"{name} missing or empty");
            }
            Assert.Equal(4, result.ReportFiles.Count);

            // Setup: the quick corpus's split, the builtin encoder.
            Assert.Equal(24, result.Setup.Videos);
            Assert.Equal(16, result.Setup.TrainVideos);
            Assert.Equal(8, result.Setup.TestVideos);
            Assert.Equal("builtin", result.Setup.Encoder);
            Assert.Equal(128, result.Setup.Dimension);

            // Every row and column of the table: the majority baseline, then linear / attentive / attentive+pos for raw, each run's step 0 and each trained run.
            Assert.Equal(["activity", "first_step", "num_steps", "key_step_seconds"], result.Columns.Select(c => c.Column));
            Assert.Equal(
                ["majority/baseline", "raw/linear", "raw/attentive", "raw/attentive+pos", "random@0/linear", "random@0/attentive", "random@0/attentive+pos",
                 "random/linear", "random/attentive", "random/attentive+pos", "semantic@0/linear", "semantic@0/attentive", "semantic@0/attentive+pos",
                 "semantic/linear", "semantic/attentive", "semantic/attentive+pos"],
                result.Rows.Select(r => $"{r.Masking ?? r.Features}{(r.Features == ProbeScore.Untrained ? "@0" : "")}/{r.Probe}"));
            foreach (var row in result.Rows)
            {
                foreach (var column in result.Columns.Where(c => !c.IsRegression))
                {
                    var cell = row.Cell(column.Column);
                    Assert.NotNull(cell?.Top1);
                    Assert.InRange(cell!.Top1!.Value, 0, 1);
                    // The mean of 3 seeds' accuracies on 8 test videos is a multiple of 1/24; the majority baseline has one "seed".
                    Assert.Equal(row.Features == "majority" ? 1 : 3, cell.Seeds);
                    Assert.Equal(0, cell.Top1.Value * 24 - Math.Round(cell.Top1.Value * 24), 6);
                    Assert.NotNull(cell.Top1Std);
                }
                var mse = row.Cell("key_step_seconds")?.Mse;
                if (row.Probe is "linear" or "baseline")
                {
                    Assert.NotNull(mse);
                    Assert.InRange(mse!.Value, 0, 1e4);
                }
                else Assert.Null(mse);
            }
            var text = DemoReport.TableRows(result.Columns, result.Rows);
            Assert.Equal(16, text.Count);   // majority, 3 raw, per run: step 0 and trained, each linear / attentive / attentive+pos
            Assert.All(text, r => Assert.Equal(5, r.Count));

            // Every claim compares an LV-MAE probe with the majority baseline, both raw baselines and the same model untrained.
            var activity = result.Claims.Where(c => c.Comparison.Column == "activity").ToList();
            // 2 runs x ((linear, attentive) x (majority, raw same probe, raw attentive+pos, step 0 same probe) + attentive+pos x
            // (majority, raw attentive+pos, step 0 attentive+pos)): for attentive+pos the same-probe raw baseline is attentive+pos.
            Assert.Equal(2 * (2 * 4 + 3), activity.Count);
            Assert.All(activity.GroupBy(c => (c.Masking, c.Comparison.Probe)), g =>
                Assert.Equal(new[] { "majority", $"raw {g.Key.Probe}", "raw attentive+pos", $"step 0 {g.Key.Probe}" }.Distinct(), g.Select(c => c.Comparison.Baseline)));

            // The runs: product training runs, trained, probed and exported through the training grain.
            Assert.Equal(["demo-random-s7", "demo-semantic-s7"], result.Runs.Select(r => r.Run));
            Assert.All(result.Runs, r => Assert.Equal(150, r.Steps));
            Assert.All(result.Runs, r => Assert.Equal(24, r.Export!.Videos));
            Assert.All(result.Runs, r => Assert.StartsWith("peak lr 0.001, warm-up 15 steps", r.Schedule));

            // Training curves from the runs' metrics.jsonl: every step, finite, the loss went down.
            Assert.Equal(["random s7", "semantic s7"], result.Curves.Select(c => c.Masking));
            foreach (var curve in result.Curves)
            {
                Assert.Equal(Enumerable.Range(1, 150).Select(i => (long)i), curve.Steps);
                Assert.All(curve.Loss, l => Assert.True(double.IsFinite(l) && l >= 0));
                var (first, last) = curve.Ends();
                Assert.True(last < first, $"{curve.Masking}: loss {first} -> {last}");
            }

            // Caption retrieval: the originals retrieve their own step almost always (the captions are step means).
            Assert.Equal(2, result.Retrieval.Count);
            foreach (var r in result.Retrieval)
            {
                Assert.Equal(8, r.Videos);
                Assert.True(r.MaskedSegments > 0);
                Assert.InRange(r.ReconstructionHit, 0, 1);
                Assert.True(r.OriginalHit > 0.8, $"original retrieval {r.OriginalHit}");
                Assert.Equal(1.0 / r.Captions, r.Chance, 9);
                Assert.NotEmpty(r.Examples);
            }

            var md = File.ReadAllText(Path.Combine(dir, "report", DemoReport.ReportFileName));
            Assert.Contains("LV-MAE (semantic masking), attentive", md);
            Assert.Contains("The paper's claim on `activity`", md);
            Assert.Contains(result.Timings, t => t.Phase == "ingest");
            Assert.Contains(result.Timings, t => t.Phase == "train + probe + export");
            Assert.Contains(result.Timings, t => t.Phase == "report");
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
