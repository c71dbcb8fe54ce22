using System.Globalization;
using System.Text;
using LvMae.Grains.Training;
using LvMae.Model.Probing;
using LvMae.Model.Retrieval;
using LvMae.Runs;

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

    /// <summary>The table's rows as text: every probe row (the majority baseline first); "-" where a probe does not apply.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> TableRows(IReadOnlyList<LabelColumn> columns, IReadOnlyList<ProbeRow> rows) =>
        rows.Select(row => (IReadOnlyList<string>)new[] { row.Name }.Concat(columns.Select(c => Cell(row.Cell(c.Column), c))).ToList()).ToList();

    /// <summary>"64.3% ± 2.1" (sd in points over the probe seeds); regression: "RMSE (MSE ± sd)".</summary>
    public static string Cell(ProbeCell? cell, LabelColumn column)
    {
        if (cell is null) return "-";
        if (column.IsRegression)
            return cell.Rmse is { } rmse ? $"{F(rmse, 2)} ({F(cell.Mse!.Value, 1)}{(cell.MseStd is { } sd && cell.Seeds > 1 ? $" ± {F(sd, 1)}" : "")})" : "-";
        return cell.Top1 is { } top1 ? ProbeVerdict.Mean(top1, cell.Seeds > 1 ? cell.Top1Std : null) : "-";
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

    /// <summary>The paper's claim on the order-only column: every run's LV-MAE attentive probe beats the majority baseline,
    /// raw embeddings under the same probe and the position-aware raw baseline (<see cref="ProbeVerdict"/>).</summary>
    public static string ClaimVerdict(IReadOnlyList<DemoClaim> claims, string column = ClaimColumn)
    {
        var attentive = claims.Where(c => c.Comparison.Column == column && c.Comparison.Probe == "attentive").GroupBy(c => c.Masking).ToList();
        if (attentive.Count == 0) return "not evaluated";
        var wins = attentive.Count(g => g.All(c => c.Comparison.Beats));
        return wins == attentive.Count ? "reproduced" : wins == 0 ? "not reproduced" : $"partly reproduced ({wins} of {attentive.Count} runs)";
    }

    /// <summary>Per masking: the LV-MAE attentive score on the claim column minus the best raw baseline (same probe or attentive+pos), in points.</summary>
    public static IReadOnlyList<(string Masking, double Points)> MarginOverRaw(IReadOnlyList<DemoClaim> claims, string column = ClaimColumn) =>
        claims.Where(c => c.Comparison.Column == column && c.Comparison.Probe == "attentive" && c.Comparison.Baseline.StartsWith("raw", StringComparison.Ordinal))
            .GroupBy(c => c.Masking).Select(g => (g.Key, 100 * g.Min(c => c.Comparison.Gap))).ToList();

    public const string ClaimColumn = "activity";

    /// <summary>What the demo's runs pre-train on (the report's setup line and the run notes say it the same way).</summary>
    public static string PretrainingScope(bool heldOutToo) => heldOutToo
        ? "pre-training on every video's embeddings, test videos included, never their labels; probes train on the train split only"
        : "pre-training on the train and pretrain splits only (never val or test)";

    /// <summary>The whole report as markdown (plots referenced by file name, next to it).</summary>
    public static string Markdown(DemoResult result)
    {
        var s = result.Setup;
        var sb = new StringBuilder();
        sb.Append("# LV-MAE demo report\n\n");
        sb.Append($"Corpus `{s.CorpusName}` ({s.Videos} videos, {s.TrainVideos} train / {(s.PretrainVideos > 0 ? $"{s.PretrainVideos} pretrain / " : "")}{s.ValVideos} val / {s.TestVideos} test, {s.Segments} segments of 5 s, " +
                  $"{F(s.Hours, 2)} h; fingerprint `{s.Fingerprint[..Math.Min(12, s.Fingerprint.Length)]}`), encoder `{s.Encoder}` ({s.Dimension}-d), " +
                  $"LV-MAE preset `{s.Preset}`, {s.Steps} steps per run, {s.PretrainingSeeds} pre-training seed(s) per masking, batch {s.BatchSize}, {s.Schedule}. " +
                  $"Probes: {s.ProbeSettings}; {s.ProbeSeeds} probe seed(s) per run. Machine: {s.Machine}.\n\n");
        sb.Append("Every pre-training is a training run of the product (`ITrainingRunGrain`: the Dataflow training feed over the corpus index, ");
        sb.Append($"{PretrainingScope(s.PretrainedOnHeldOut)}), probed by the run's prober and exported by the run's exporter:\n\n");
        foreach (var r in result.Runs)
            sb.Append($"- `{r.Run}` ({r.Masking} masking{(r.Seed is { } seed ? $", pre-training seed {seed}" : "")}, device {r.Device ?? "?"}): {r.Schedule}; export " +
                      (r.Export is { Error: null } e ? $"{e.Videos} videos x {e.Width} ({string.Join(", ", e.Blobs.Select(x => $"`{x}`"))})" : $"failed: {r.Export?.Error ?? "not run"}") + "\n");
        sb.Append('\n');
        sb.Append("## Probes: raw segment embeddings vs LV-MAE features\n\n");
        sb.Append($"Held-out top-1 accuracy on the corpus's test split (classification) and RMSE in seconds (MSE in s²) of a ");
        sb.Append("regression probe on the global average pool (key_step_seconds). The majority baseline is what a useless probe scores on this split ");
        sb.Append("(most frequent train class / train mean). LV-MAE rows (trained and step 0): " +
                  (s.PretrainingSeeds > 1 ? $"mean ± sd over {s.PretrainingSeeds} pre-training seeds, each seed's figure the mean over its probe seeds" : "one pre-training seed, ± over the probe seeds") +
                  "; majority and raw rows: ± over the probe seeds (no pre-training).\n\n");
        sb.Append(MarkdownTable(result.Columns, result.Rows)).Append('\n');

        sb.Append($"**The paper's claim on `{ClaimColumn}`** (LV-MAE features beat raw embeddings; the bag of segments carries no activity signal by construction, ");
        sb.Append($"so only order separates the classes): **{ClaimVerdict(result.Claims)}**. An LV-MAE probe wins only when it beats the majority baseline, ");
        sb.Append("raw embeddings under the same probe, the position-aware raw baseline (attentive+pos) AND the same model untrained (step 0), each by more than one test video and more than the two sds together.\n\n");
        foreach (var (masking, points) in MarginOverRaw(result.Claims))
            sb.Append($"- {masking} masking: LV-MAE attentive is {(points >= 0 ? "+" : "")}{F(points, 1)} points above the best raw baseline\n");
        foreach (var c in result.Claims.Where(c => c.Comparison.Column == ClaimColumn))
        {
            var x = c.Comparison;
            sb.Append($"- {c.Masking} masking, {x.Probe}: LV-MAE {ProbeVerdict.Mean(x.LvMae, x.LvMaeSd)} vs {x.Baseline} {ProbeVerdict.Mean(x.Other, x.OtherSd)} " +
                      $"({(x.Gap >= 0 ? "+" : "")}{F(100 * x.Gap, 1)} points; {(x.Beats ? "beats" : "does not beat")} it by more than {F(100 * x.Margin, 1)} points)\n");
        }
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
        sb.Append(CultureInfo.InvariantCulture, $"segments in the training split. Each test video is masked with the model's own strategy at the paper's {ReconstructionRetrieval.EvaluationMaskRatio * 100:0}% (whatever ratio it trained with) and reconstructed; for every ");
        sb.Append("masked segment the nearest captions (cosine) of the original embedding and of the reconstruction are compared with the true step.\n\n");
        var perMasking = result.Retrieval.GroupBy(r => r.Masking).ToList();
        var seedsNote = result.Retrieval.Any(r => r.PretrainingSeed is not null)
            ? "Mean ± sd over the pre-training seeds (one model each; the same masks for every seed).\n\n" : "";
        sb.Append(seedsNote);
        sb.Append("| model | seeds | test videos | masked segments | original -> true step | reconstruction -> true step | copy of nearest visible segment -> true step | chance |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var g in perMasking)
        {
            var r = g.First();
            sb.Append($"| LV-MAE ({g.Key}) | {g.Count()} | {r.Videos} | {r.MaskedSegments} | {PctSd(g, x => x.OriginalHit)} | {PctSd(g, x => x.ReconstructionHit)} | {PctSd(g, x => x.NeighbourCopyHit)} | {Pct(r.Chance)} (1/{r.Captions}) |\n");
        }
        sb.Append('\n');
        if (result.Retrieval.Any(r => r.ReconstructionCosine is not null))
        {
            sb.Append("Mean cosine to the original masked segment: of the model's reconstruction, of the nearest visible segment (a model-free ");
            sb.Append("copy), and of the mean training embedding (the best a context-blind reconstruction can do).\n\n");
            sb.Append("| model | reconstruction | nearest visible segment | mean embedding |\n|---|---:|---:|---:|\n");
            foreach (var g in perMasking)
                sb.Append($"| LV-MAE ({g.Key}) | {FSd(g, x => x.ReconstructionCosine, 3)} | {FSd(g, x => x.NeighbourCopyCosine, 3)} | {FSd(g, x => x.MeanEmbeddingCosine, 3)} |\n");
            sb.Append('\n');
        }
        if (result.Retrieval.Any(r => r.Centred is not null))
        {
            var central = result.Retrieval.First(r => r.Misses is not null).Misses!.CentralCaption;
            sb.Append("Does the direction every segment shares (the mean-embedding cosine above) bias the retrieval? A model unsure of a ");
            sb.Append("segment predicts an average, which lies towards the corpus mean, and uncentred cosine favours the caption nearest the ");
            sb.Append(CultureInfo.InvariantCulture, $"mean (here `{central}`). The same retrievals with queries and captions centred on the training mean, and the share ");
            sb.Append("of wrong top-1 captions (uncentred) that are that caption; centred hits level with the uncentred ones and a share near ");
            sb.Append("the copy's say it does not:\n\n");
            sb.Append("| model | centred: original | centred: reconstruction | centred: copy | misses on the mean's caption: reconstruction | copy |\n|---|---:|---:|---:|---:|---:|\n");
            foreach (var g in perMasking)
                sb.Append($"| LV-MAE ({g.Key}) | {PctSd(g, x => x.Centred?.OriginalHit)} | {PctSd(g, x => x.Centred?.ReconstructionHit)} | {PctSd(g, x => x.Centred?.NeighbourCopyHit)} | {PctSd(g, x => x.Misses?.ReconstructionMissesOnCentral)} | {PctSd(g, x => x.Misses?.CopyMissesOnCentral)} |\n");
            sb.Append('\n');
        }
        foreach (var r in result.Retrieval.Where(r => r.Examples.Count > 0).GroupBy(r => r.Masking).Select(g => g.First()))
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

    /// <summary>"60.8% ± 2.1": mean ± sample sd over the pre-training seeds' summaries (no ± for one; "-" for none).</summary>
    private static string PctSd(IEnumerable<RetrievalSummary> seeds, Func<RetrievalSummary, double?> value) =>
        OverSeeds(seeds, value) is not { } m ? "-" : m.Sd is { } sd ? ProbeVerdict.Mean(m.Mean, sd) : Pct(m.Mean);

    /// <summary>"0.847 ± 0.017" with <paramref name="digits"/> decimals, as <see cref="PctSd"/> ("n/a" for none).</summary>
    private static string FSd(IEnumerable<RetrievalSummary> seeds, Func<RetrievalSummary, double?> value, int digits) =>
        OverSeeds(seeds, value) is not { } m ? "n/a" : F(m.Mean, digits) + (m.Sd is { } sd ? " ± " + F(sd, digits) : "");

    /// <summary>Mean and sample sd (null for a single value) of the seeds' values that are present; null when none is.</summary>
    private static (double Mean, double? Sd)? OverSeeds(IEnumerable<RetrievalSummary> seeds, Func<RetrievalSummary, double?> value)
    {
        var present = seeds.Select(value).OfType<double>().ToList();
        if (present.Count == 0) return null;
        return (present.Average(), present.Count > 1 ? ProbeSuite.Sd(present.Select(x => (double?)x)) : null);
    }

    public static string Pct(double x) => double.IsFinite(x) ? (100 * x).ToString("0.0", Inv) + "%" : "n/a";
    public static string F(double x, int digits) => double.IsFinite(x) ? x.ToString("F" + digits, Inv) : "n/a";
    public static string Dur(TimeSpan t) => t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes} min {t.Seconds:00} s" : $"{t.TotalSeconds.ToString("0.0", Inv)} s";
}
