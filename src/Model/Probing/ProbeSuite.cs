namespace LvMae.Model.Probing;

/// <summary>One row of the paper's comparison: which features, which probe, the held-out score.</summary>
public sealed record ProbeComparisonRow(string Features, string Probe, ProbeResult Result);

/// <summary>
/// The paper's table in one call: linear and attentive probes on frozen LV-MAE features versus the
/// same probes on the raw segment embeddings (attentive on raw both without positions, as the paper
/// runs it, and with sin-cos positions as a stronger baseline), on one seeded stratified split.
/// </summary>
public static class ProbeSuite
{
    public static IReadOnlyList<ProbeComparisonRow> Compare(
        LvMaeModel model, IReadOnlyList<float[]> videos, int dim, int[] labels,
        double testFraction = 0.2, int splitSeed = 0, Func<ProbeOptions, ProbeOptions>? adjust = null)
    {
        adjust ??= o => o;
        var encoded = ProbeSet.FromEncoder(model, videos, dim, labels).Split(testFraction, splitSeed);
        var raw = ProbeSet.Raw(videos, dim, labels).Split(testFraction, splitSeed);
        var rows = new List<ProbeComparisonRow>
        {
            new("lv-mae", "linear", ProbeTrainer.Run(encoded.Train, encoded.Test, adjust(ProbeOptions.Linear()))),
            new("lv-mae", "attentive", ProbeTrainer.Run(encoded.Train, encoded.Test, adjust(ProbeOptions.Attentive()))),
            new("raw", "linear", ProbeTrainer.Run(raw.Train, raw.Test, adjust(ProbeOptions.Linear()))),
            new("raw", "attentive", ProbeTrainer.Run(raw.Train, raw.Test, adjust(ProbeOptions.Attentive()))),
            new("raw", "attentive+pos", ProbeTrainer.Run(raw.Train, raw.Test, adjust(ProbeOptions.Attentive(addPositions: true)))),
        };
        return rows;
    }
}
