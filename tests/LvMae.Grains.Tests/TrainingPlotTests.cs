using LvMae.Grains.Training;

namespace LvMae.Grains.Tests;

public sealed class TrainingPlotTests
{
    [Fact]
    public void Plot_draws_loss_and_probe_accuracy_with_ScottPlot_and_without_it()
    {
        var loss = Enumerable.Range(1, 50).Select(s => ((long)s, 1.0 / Math.Sqrt(s))).ToList();
        var probes = new Dictionary<string, List<(long Step, double Value)>>
        {
            ["cls/lv-mae/attentive"] = [(10, 0.5), (30, 0.7), (50, 0.8)],
            ["cls/raw/attentive"] = [(10, 0.55), (30, 0.55), (50, 0.55)],
        };
        var png = RunPlotter.RenderScottPlot("test", loss, probes, 900, 500);
        Assert.Equal(new byte[] { 137, 80, 78, 71 }, png.Take(4).ToArray());
        File.WriteAllBytes(Path.Combine(Path.GetTempPath(), "lvmae-training-plot-test.png"), png);
        var fallback = RunPlotter.RenderFallback(loss, probes);
        Assert.Equal(new byte[] { 137, 80, 78, 71 }, fallback.Take(4).ToArray());
    }
}
