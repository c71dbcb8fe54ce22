using LvMae.Demo;

namespace LvMae.Demo.Tests;

/// <summary>`lvmae demo --quick` end to end, in-process: quick corpus, Azurite + silo, builtin encoder, training, probes, report.</summary>
public sealed class QuickDemoTests
{
    [Fact]
    public async Task Quick_demo_runs_end_to_end_and_writes_the_report()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-demo-quick-").FullName;
        try
        {
            var console = new SilentDemoConsole();
            var options = DemoOptions.QuickRun(dir) with { Steps = 150, CorpusParallelism = 2 };
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

            // Every row and column of the table.
            Assert.Equal(["activity", "first_step", "num_steps", "key_step_seconds"], result.Columns.Select(c => c.Column));
            Assert.Equal(
                ["raw/linear", "raw/attentive", "raw/attentive+pos", "random/linear", "random/attentive", "semantic/linear", "semantic/attentive"],
                result.Rows.Select(r => $"{r.Masking ?? "raw"}/{r.Probe}"));
            foreach (var row in result.Rows)
            {
                foreach (var column in result.Columns.Where(c => !c.IsRegression))
                {
                    var top1 = row.Cell(column.Column)?.Top1;
                    Assert.NotNull(top1);
                    Assert.InRange(top1!.Value, 0, 1);
                    // Accuracies on 8 test videos are multiples of 1/8.
                    Assert.Equal(0, top1.Value * 8 - Math.Round(top1.Value * 8), 6);
                }
                var mse = row.Cell("key_step_seconds")?.Mse;
                if (row.Probe == "linear")
                {
                    Assert.NotNull(mse);
                    Assert.InRange(mse!.Value, 0, 1e4);
                }
                else Assert.Null(mse);
            }
            var text = DemoReport.TableRows(result.Columns, result.Rows);
            Assert.Equal(8, text.Count);
            Assert.All(text, r => Assert.Equal(5, r.Count));

            // Training curves: every step, finite, the loss went down.
            Assert.Equal(["random", "semantic"], result.Curves.Select(c => c.Masking));
            foreach (var curve in result.Curves)
            {
                Assert.Equal(150, curve.Steps.Length);
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
            Assert.Contains(result.Timings, t => t.Phase == "report");
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
