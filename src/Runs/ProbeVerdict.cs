using System.Globalization;
using LvMae.Contracts;

namespace LvMae.Runs;

/// <summary>One LV-MAE probe against one baseline on one column.</summary>
/// <param name="Margin">How much higher LV-MAE must be to count as better: one test video, or the two sds added when that is more.</param>
public sealed record ProbeComparison(string Column, string Probe, double LvMae, double? LvMaeSd, string Baseline, double Other, double? OtherSd, double Margin)
{
    public double Gap => LvMae - Other;
    public bool Beats => Gap > Margin;
}

/// <summary>
/// The verdicts every table prints (runs, the probe CLI, the demo, the ablation): an LV-MAE probe on a classification
/// column wins only when it beats ALL of the majority baseline, the raw embeddings under the same probe, the
/// position-aware raw baseline (attentive+pos) and the same model untrained (step 0) under the same probe, each by more
/// than one test video and by more than the two sds together.
/// Scoring at the majority baseline is never a win.
/// </summary>
public static class ProbeVerdict
{
    /// <summary>The majority-class probe's name (ProbeSuite.Baseline in src/Model; a test keeps the two equal).</summary>
    public const string BaselineProbe = "baseline";
    /// <summary>The position-aware attentive probe's name (ProbeSuite.AttentivePositions in src/Model; a test keeps the two equal).</summary>
    public const string AttentivePositionsProbe = "attentive+pos";

    /// <summary>The comparisons of every LV-MAE classification probe of <paramref name="scores"/> (one checkpoint's scores).</summary>
    public static IReadOnlyList<ProbeComparison> Compare(IEnumerable<ProbeScore> scores)
    {
        var list = scores.Where(s => s.Top1 is not null).ToList();
        var result = new List<ProbeComparison>();
        foreach (var lvmae in list.Where(s => s.Features == ProbeScore.LvMae).OrderBy(s => s.Column, StringComparer.Ordinal).ThenBy(s => s.Probe, StringComparer.Ordinal))
        {
            var margin = lvmae.Test > 0 ? 1.0 / lvmae.Test : 0;
            ProbeScore? Find(string features, string probe) => list.FirstOrDefault(s => s.Column == lvmae.Column && s.Features == features && s.Probe == probe);
            foreach (var (baseline, name) in new[]
                     {
                         (Find(ProbeScore.Majority, BaselineProbe), "majority"),
                         (Find(ProbeScore.Raw, lvmae.Probe), $"raw {lvmae.Probe}"),
                         (Find(ProbeScore.Raw, AttentivePositionsProbe), $"raw {AttentivePositionsProbe}"),
                         (Find(ProbeScore.Untrained, lvmae.Probe), $"step 0 {lvmae.Probe}"),
                     }.Distinct())
            {
                if (baseline is null) continue;
                result.Add(new ProbeComparison(lvmae.Column, lvmae.Probe, lvmae.Top1!.Value, lvmae.Top1Sd, name, baseline.Top1!.Value, baseline.Top1Sd,
                    Math.Max(margin, (lvmae.Top1Sd ?? 0) + (baseline.Top1Sd ?? 0))));
            }
        }
        return result;
    }

    /// <summary>"beats" when an LV-MAE probe of the column beats every baseline it was compared with, else "does not beat".</summary>
    public static string Line(IReadOnlyList<ProbeComparison> comparisons, string column, string probe)
    {
        var mine = comparisons.Where(c => c.Column == column && c.Probe == probe).ToList();
        if (mine.Count == 0) return $"{column}, LV-MAE {probe}: no comparison";
        var worst = mine.OrderBy(c => c.Gap - c.Margin).First();
        var verdict = mine.All(c => c.Beats) ? "beats every baseline" : $"does not beat {worst.Baseline}";
        return $"{column}, LV-MAE {probe} {Mean(worst.LvMae, worst.LvMaeSd)}: {verdict} (" +
               string.Join("; ", mine.Select(c => $"{c.Baseline} {Mean(c.Other, c.OtherSd)}, {(c.Gap >= 0 ? "+" : "")}{(100 * c.Gap).ToString("0.0", CultureInfo.InvariantCulture)} pts")) + ")";
    }

    /// <summary>"64.3% ± 2.1" (sd in points), or "64.3%" without an sd.</summary>
    public static string Mean(double value, double? sd) =>
        (100 * value).ToString("0.0", CultureInfo.InvariantCulture) + "%" + (sd is { } s ? " ± " + (100 * s).ToString("0.0", CultureInfo.InvariantCulture) : "");
}
