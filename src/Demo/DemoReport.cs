using System.Globalization;
using System.Text;

namespace LvMae.Demo;

/// <summary>The comparison table and the markdown report, as pure functions of a <see cref="DemoResult"/>.</summary>
public static class DemoReport
{
    public const string ReportFileName = "report.md";
    public const string ResultsFileName = "results.json";
    public const string LossPlotFileName = "loss.png";
    public const string ProbePlotFileName = "probes.png";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The header of the comparison table: "features / probe" then one column per label.</summary>
    public static IReadOnlyList<string> Header(IReadOnlyList<LabelColumn> columns) =>
        ["features / probe", .. columns.Select(c => c.IsRegression ? $"{c.Column} RMSE s (MSE)" : $"{c.Column} top-1")];

    /// <summary>The table's rows as text: the majority baseline first, then every probe row; "-" where a probe does not apply.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> TableRows(IReadOnlyList<LabelColumn> columns, IReadOnlyList<ProbeRow> rows)
    {
        var result = new List<IReadOnlyList<string>>
        {
            new[] { "majority baseline (chance)" }.Concat(columns.Select(c => c.IsRegression
                ? $"{F(c.MajorityBaseline, 2)} ({F(c.MajorityBaseline * c.MajorityBaseline, 1)})"
                : $"{Pct(c.MajorityBaseline)} ({Pct(c.Chance)})")).ToList(),
        };
        foreach (var row in rows)
            result.Add(new[] { row.Name }.Concat(columns.Select(c => Cell(row.Cell(c.Column), c))).ToList());
        return result;
    }

    public static string Cell(ProbeCell? cell, LabelColumn column)
    {
        if (cell is null) return "-";
        if (column.IsRegression)
            return cell.Rmse is { } rmse ? $"{F(rmse, 2)} ({F(cell.Mse!.Value, 1)})" : "-";
        if (cell.Top1 is not { } top1) return "-";
        return cell.Seeds > 1 && cell.Top1Std is { } sd ? $"{Pct(top1)} ± {F(100 * sd, 1)}" : Pct(top1);
    }

    /// <summary>The markdown table.</summary>
    public static string MarkdownTable(IReadOnlyList<LabelColumn> columns, IReadOnlyList<ProbeRow> rows)
    {
        var sb = new StringBuilder();
        var header = Header(columns);
        sb.Append("| ").Append(string.Join(" | ", header)).Append(" |\n");
        sb.Append("|").Append(string.Join("|", header.Select((_, i) => i == 0 ? "---" : "---:"))).Append("|\n");
        foreach (var r in TableRows(columns, rows)) sb.Append("| ").Append(string.Join(" | ", r)).Append(" |\n");
        return sb.ToString();
    }

    /// <summary>One comparison of the paper's claim: LV-MAE features vs raw embeddings under the same probe, on one column.</summary>
    public sealed record ClaimCheck(string Column, string Masking, string Probe, double LvMae, double Raw, string RawProbe, double Margin)
    {
        public double Gap => LvMae - Raw;
        public bool Beats => Gap > Margin;
    }

    /// <summary>
    /// The paper's claim on the order-dependent column: for each masking and probe, LV-MAE vs raw embeddings under the
    /// same probe (linear vs linear, attentive vs attentive without positions), and vs the stronger attentive+pos
    /// baseline. "Beats" = higher by more than one test video's worth of accuracy.
    /// </summary>
    public static IReadOnlyList<ClaimCheck> Claim(DemoResult result, string column = "activity")
    {
        var checks = new List<ClaimCheck>();
        var margin = result.Setup.TestVideos > 0 ? 1.0 / result.Setup.TestVideos : 0;
        double? Raw(string probe) => result.Rows.FirstOrDefault(r => r.Masking is null && r.Probe == probe)?.Cell(column)?.Top1;
        foreach (var row in result.Rows.Where(r => r.Masking is not null))
        {
            if (row.Cell(column)?.Top1 is not { } score) continue;
            if (Raw(row.Probe) is { } same) checks.Add(new ClaimCheck(column, row.Masking!, row.Probe, score, same, row.Probe, margin));
            if (row.Probe == "attentive" && Raw("attentive+pos") is { } pos) checks.Add(new ClaimCheck(column, row.Masking!, row.Probe, score, pos, "attentive+pos", margin));
        }
        return checks;
    }

    /// <summary>"reproduced" when LV-MAE beats raw embeddings under the same probe for every masking and probe.</summary>
    public static string ClaimVerdict(IReadOnlyList<ClaimCheck> checks)
    {
        var same = checks.Where(c => c.RawProbe == c.Probe).ToList();
        if (same.Count == 0) return "not evaluated";
        var beats = same.Count(c => c.Beats);
        return beats == same.Count ? "reproduced" : beats == 0 ? "not reproduced" : $"partly reproduced ({beats} of {same.Count} comparisons)";
    }

    /// <summary>The whole report as markdown (plots referenced by file name, next to it).</summary>
    public static string Markdown(DemoResult result)
    {
        var s = result.Setup;
        var sb = new StringBuilder();
        sb.Append("# LV-MAE demo report\n\n");
        sb.Append($"Corpus `{s.CorpusName}` ({s.Videos} videos, {s.TrainVideos} train / {s.TestVideos} test, {s.Segments} segments of 5 s, " +
                  $"{F(s.Hours, 2)} h; fingerprint `{s.Fingerprint[..Math.Min(12, s.Fingerprint.Length)]}`), encoder `{s.Encoder}` ({s.Dimension}-d), " +
                  $"LV-MAE preset `{s.Preset}`, {s.Steps} steps per masking, batch {s.BatchSize}, peak lr {s.LearningRate.ToString("g3", Inv)}. " +
                  $"Probes: {s.ProbeSettings}; {s.ProbeSeeds} probe seed(s) per cell (mean ± sd). Machine: {s.Machine}.\n\n");
        sb.Append("## Probes: raw segment embeddings vs LV-MAE features\n\n");
        sb.Append("Held-out top-1 accuracy on the corpus's test split (classification) and RMSE in seconds (MSE in s²) of a regression probe on ");
        sb.Append("the global average pool (key_step_seconds; linear rows). The first row is what a useless probe scores on this split ");
        sb.Append("(most frequent train class / train mean), chance under the generating distribution in parentheses.\n\n");
        sb.Append(MarkdownTable(result.Columns, result.Rows)).Append('\n');

        var checks = Claim(result);
        sb.Append($"**The paper's claim on `activity`** (LV-MAE features beat raw embeddings under the same probe; the bag of segments carries no activity signal by construction): **{ClaimVerdict(checks)}**.\n\n");
        foreach (var c in checks)
            sb.Append($"- {c.Masking} masking, {c.Probe}: LV-MAE {Pct(c.LvMae)} vs raw {c.RawProbe} {Pct(c.Raw)} ({(c.Gap >= 0 ? "+" : "")}{F(100 * c.Gap, 1)} points; {(c.Beats ? "beats" : "does not beat")} it by more than one test video, {F(100 * c.Margin, 1)} points)\n");
        sb.Append('\n');

        sb.Append("## Pre-training\n\n");
        sb.Append($"![loss curves]({LossPlotFileName})\n\n");
        sb.Append("| masking | steps | first 10% loss | last 10% loss | wall | steps/s |\n|---|---:|---:|---:|---:|---:|\n");
        foreach (var c in result.Curves)
        {
            var (first, last) = c.Ends();
            sb.Append($"| {c.Masking} | {c.Steps.Length} | {F(first, 4)} | {F(last, 4)} | {Dur(c.Elapsed)} | {F(c.StepsPerSecond, 1)} |\n");
        }
        sb.Append('\n');
        sb.Append($"![probe accuracy]({ProbePlotFileName})\n\n");

        sb.Append("## Interpretability: caption retrieval of reconstructed segments\n\n");
        sb.Append("Captions are the step names; each caption's embedding is the mean (L2-normalised) encoder embedding of that step's ");
        sb.Append("segments in the training split. Each test video is masked with the model's own strategy and reconstructed; for every ");
        sb.Append("masked segment the nearest captions (cosine) of the original embedding and of the reconstruction are compared with the true step.\n\n");
        sb.Append("| model | test videos | masked segments | original -> true step | reconstruction -> true step | copy of nearest visible segment -> true step | chance |\n|---|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in result.Retrieval)
            sb.Append($"| LV-MAE ({r.Masking}) | {r.Videos} | {r.MaskedSegments} | {Pct(r.OriginalHit)} | {Pct(r.ReconstructionHit)} | {(r.NeighbourCopyHit is { } c ? Pct(c) : "-")} | {Pct(r.Chance)} (1/{r.Captions}) |\n");
        sb.Append('\n');
        if (result.Retrieval.Any(r => r.ReconstructionCosine is not null))
        {
            sb.Append("Mean cosine to the original masked segment: of the model's reconstruction, of the nearest visible segment (a model-free ");
            sb.Append("copy), and of the mean training embedding (the best a context-blind reconstruction can do).\n\n");
            sb.Append("| model | reconstruction | nearest visible segment | mean embedding |\n|---|---:|---:|---:|\n");
            foreach (var r in result.Retrieval)
                sb.Append($"| LV-MAE ({r.Masking}) | {F(r.ReconstructionCosine ?? double.NaN, 3)} | {F(r.NeighbourCopyCosine ?? double.NaN, 3)} | {F(r.MeanEmbeddingCosine ?? double.NaN, 3)} |\n");
            sb.Append('\n');
        }
        foreach (var r in result.Retrieval.Where(r => r.Examples.Count > 0))
        {
            sb.Append($"Examples, LV-MAE ({r.Masking} masking):\n\n");
            sb.Append("| video | segment | true step | top captions of the original | top captions of the reconstruction | cos(orig, recon) |\n|---|---:|---|---|---|---:|\n");
            foreach (var e in r.Examples)
                sb.Append($"| {e.VideoId} | {e.Position} | {e.TrueStep} | {string.Join(", ", e.OriginalTop)} | {(e.ReconstructedTop.Count > 0 && e.ReconstructedTop[0] == e.TrueStep ? "**" + e.ReconstructedTop[0] + "**" : e.ReconstructedTop.FirstOrDefault() ?? "")}{string.Concat(e.ReconstructedTop.Skip(1).Select(t => ", " + t))} | {F(e.Cosine, 3)} |\n");
            sb.Append('\n');
        }

        sb.Append("## Timings\n\nCPU = user + system time of the demo process and its finished child processes (ffmpeg) in the phase; ");
        sb.Append("on a shared machine it, not the wall time, says what the phase costs on idle cores.\n\n");
        sb.Append("| phase | wall | CPU | detail |\n|---|---:|---:|---|\n");
        foreach (var t in result.Timings) sb.Append($"| {t.Phase} | {Dur(t.Elapsed)} | {(t.Cpu is { } c ? Dur(c) : "")} | {t.Detail ?? ""} |\n");
        var cpuTotal = result.Timings.Aggregate(TimeSpan.Zero, (a, t) => a + (t.Cpu ?? TimeSpan.Zero));
        sb.Append($"| **total** | **{Dur(result.Total)}** | **{Dur(cpuTotal)}** | |\n\n");
        if (result.Notes.Count > 0)
        {
            sb.Append("## Notes\n\n");
            foreach (var n in result.Notes) sb.Append("- ").Append(n).Append('\n');
        }
        return sb.ToString();
    }

    public static string Pct(double x) => double.IsFinite(x) ? (100 * x).ToString("0.0", Inv) + "%" : "n/a";
    public static string F(double x, int digits) => double.IsFinite(x) ? x.ToString("F" + digits, Inv) : "n/a";
    public static string Dur(TimeSpan t) => t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes} min {t.Seconds:00} s" : $"{t.TotalSeconds.ToString("0.0", Inv)} s";
}
