using System.CommandLine;
using LvMae.Corpus;
using LvMae.Media;
using LvMae.Contracts;
using LvMae.Grains.Training;
using LvMae.Runs;
using LvMae.Model.Probing;
using LvMae.Pipeline;
using LvMae.Pipeline.Ablation;
using Spectre.Console;

namespace LvMae.Cli.Hosted.Commands;

/// <summary>
/// `lvmae ablate`: LVMAE's ablation at the embedding level (masking x target x decoder budget, and the
/// context sweep) on one set of embeddings, printed as a table with mean ± sd over pre-training seeds, a verdict per row
/// against the majority baseline, raw embeddings and the same model at step 0, and the configuration chosen on val. Needs no silo: it loads embeddings (a folder of .npy + labels CSV with an
/// optional `split` column, or a synthetic set) and runs <see cref="AblationRunner"/> in process: the product's Trainer
/// fed by the product's TrainingFeed, probed by the product's ProbeSuite.
/// </summary>
public sealed class AblateCommand : ICliCommand
{
    public Command Build()
    {
        var embeddings = new Option<string?>("--embeddings") { Description = "Folder of <videoId>.npy float32 [N, d] files (default: a synthetic set from the benchmark corpus plan)" };
        var labels = new Option<string?>("--labels") { Description = "Labels CSV (videoId,label,...) for --embeddings" };
        var labelColumn = new Option<string?>("--label-column") { Description = "Which label column to probe (default: the first; 'activity' for the corpus)" };
        var synthetic = new Option<int>("--synthetic") { Description = "Videos in the synthetic set (embeddings drawn per planned step: order decides the label)", DefaultValueFactory = _ => 64 };
        var full = new Option<bool>("--full") { Description = "The whole grid: 4 maskings x 2 targets x 3 budgets + contexts 256/512/1024 (slow on CPU)" };
        var preset = new Option<string>("--preset") { Description = "Model preset: tiny | small | base | paper", DefaultValueFactory = _ => "tiny" };
        var steps = new Option<int>("--steps") { Description = "Training steps per configuration (default 1000, the learning bench's: a few hundred stay in the reconstruction plateau, where no setting can be ranked; docs/ABLATION.md)", DefaultValueFactory = _ => 1000 };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (default: the product's, as lvmae train)" };
        var probeSeeds = new Option<int>("--probe-seeds") { Description = "Seeds per probe (mean ± sd)", DefaultValueFactory = _ => 3 };
        var probeEpochs = new Option<int?>("--probe-epochs") { Description = "Probe epochs (default: the paper's 30 linear / 20 attentive)" };
        var batch = new Option<int>("--batch") { Description = "Videos per training batch", DefaultValueFactory = _ => 8 };
        var seed = new Option<long>("--seed") { Description = "First pre-training seed (weights, masks, batches; the synthetic set's data too)", DefaultValueFactory = _ => 0 };
        var pretrainSeeds = new Option<int>("--pretrain-seeds") { Description = "Pre-training seeds per configuration (--seed, --seed + 1, ...): every model row is the mean ± sd over them", DefaultValueFactory = _ => 3 };
        var device = new Option<string>("--device") { Description = "cpu | cuda | auto", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "libtorch intra-op threads (default: libtorch's)" };
        var contexts = new Option<string>("--contexts") { Description = "Max-tokens sweep, comma-separated (full decoder vs 15% adaptive at each)", DefaultValueFactory = _ => "256,512,1024" };
        var json = new Option<bool>("--json") { Description = "Print the rows as JSON" };
        var command = new Command(HostedCommands.Ablate.Name, HostedCommands.Ablate.Description)
            { embeddings, labels, labelColumn, synthetic, full, preset, steps, lr, probeSeeds, probeEpochs, batch, seed, pretrainSeeds, device, threads, contexts, json };
        command.SetAction(parse =>
        {
            (IReadOnlyList<AblationVideo> Videos, int Dim, string Source) data;
            try
            {
                data = parse.GetValue(embeddings) is { } dir
                    ? Load(dir, parse.GetValue(labels), parse.GetValue(labelColumn))
                    : Synthetic(parse.GetValue(synthetic), parse.GetValue(seed));
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or MediaException)
            {
                CommandLine.Error(e.Message);
                return ExitCodes.Usage;
            }
            if (data.Videos.Where(v => v.Role != SplitRole.Pretrain).Select(v => v.Label).Distinct().Count() < 2) { CommandLine.Error("probing needs at least two classes"); return ExitCodes.Usage; }
            if (!data.Videos.Any(v => v.Role == SplitRole.Train) || !data.Videos.Any(v => v.Role == SplitRole.Test))
            { CommandLine.Error("the ablation needs train and test videos (a 'split' column with train/test, or labels without one: 1 in 5 held out by id)"); return ExitCodes.Usage; }
            if (!CommandLine.TryWholeNumbers("--contexts", parse.GetValue(contexts)!, 2, out var contextTokens)) return ExitCodes.Usage;
            if (parse.GetValue(pretrainSeeds) < 1) { CommandLine.Error("--pretrain-seeds must be at least 1"); return ExitCodes.Usage; }
            if (parse.GetValue(threads) is { } t) TorchSharp.torch.set_num_threads(t);
            var options = new AblationOptions
            {
                Full = parse.GetValue(full), Preset = parse.GetValue(preset)!, Steps = parse.GetValue(steps), Lr = parse.GetValue(lr),
                ProbeSeeds = parse.GetValue(probeSeeds), ProbeEpochs = parse.GetValue(probeEpochs),
                BatchSize = parse.GetValue(batch), Seed = parse.GetValue(seed), PretrainSeeds = parse.GetValue(pretrainSeeds), Device = parse.GetValue(device)!,
                ContextTokens = [.. contextTokens],
            };
            var asJson = parse.GetValue(json);
            if (!asJson)
                AnsiConsole.MarkupLine($"[bold]ablate[/] {Markup.Escape(data.Source)}: {data.Videos.Count} videos ({data.Videos.Count(v => v.Role == SplitRole.Train)} train, " +
                                       $"{data.Videos.Count(v => v.Role == SplitRole.Test)} test), d = {data.Dim}, {data.Videos.Where(v => v.Role != SplitRole.Pretrain).Select(v => v.Label).Distinct().Count()} classes, {data.Videos.Count(v => v.Role == SplitRole.Pretrain)} pre-training only; " +
                                       $"{data.Videos.Count(v => v.Role == SplitRole.Val)} val; preset {options.Preset}, {options.Steps} steps x batch {options.BatchSize}, " +
                                       $"{AblationRunner.Grid(options).Count} configurations x {options.PretrainSeeds} pre-training seed(s)");
            var rows = AblationRunner.Run(data.Videos, data.Dim, options,
                row => { if (!asJson) AnsiConsole.MarkupLine($"[grey]done:[/] {Markup.Escape(row.Name)}"); });
            if (asJson) { CommandLine.WriteJson(rows); return ExitCodes.Ok; }
            foreach (var row in rows.Where(r => r.Config is null))
                AnsiConsole.MarkupLine(Markup.Escape(row.Linear is null && row.Attentive is null ? row.Name
                    : $"{row.Name}:{(row.Linear is { } l ? $" linear top-1 {Mean(l)}" : "")}{(row.Attentive is { } a ? $" {a.Probe} top-1 {Mean(a)}" : "")}" +
                      $"{(row.AttentivePositions is { } p ? $" attentive+pos top-1 {Mean(p)}" : "")}"));
            Table(rows).Write();
            AnsiConsole.MarkupLine(Markup.Escape(BestOnVal(rows)));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Mean(ProbeSummary s) => s.Top1 is { } t ? ProbeVerdict.Mean(t, s.Seeds > 1 ? s.Top1Sd : null) : "-";

    /// <summary>
    /// The trained rows, each with its verdict: its attentive+pos probe (the product's) against the majority baseline, raw
    /// embeddings under the same probe and the same model at step 0; then the val score the choice is made on.
    /// </summary>
    private static ResultTable Table(IReadOnlyList<AblationRow> rows)
    {
        var baselines = new List<ProbeScore>();
        foreach (var row in rows.Where(r => r.Config is null))
        {
            if (row.Name.StartsWith("majority", StringComparison.Ordinal) && row.Linear is { } m) baselines.Add(Score(ProbeScore.Majority, m));
            else if (row.Name.StartsWith("raw", StringComparison.Ordinal))
                foreach (var s in new[] { row.Linear, row.Attentive }.OfType<ProbeSummary>()) baselines.Add(Score(ProbeScore.Raw, s));
            else if (row.Name == AblationRunner.UntrainedRow)
                foreach (var s in new[] { row.Linear, row.Attentive, row.AttentivePositions }.OfType<ProbeSummary>()) baselines.Add(Score(ProbeScore.Untrained, s));
        }
        var table = new ResultTable("masking", "target", "budget", "tokens", "linear", "attentive", "attentive+pos", "verdict (attentive+pos)", "val attentive+pos",
            "ms/step", "of it scorer", "peak RSS MiB", "decoded/step", "loss");
        foreach (var row in rows.Where(r => r.Config is not null))
        {
            var c = row.Config!;
            var mine = new[] { row.Linear, row.Attentive, row.AttentivePositions }.OfType<ProbeSummary>().Select(s => Score(ProbeScore.LvMae, s));
            var verdict = ProbeVerdict.Compare(baselines.Concat(mine)).Where(x => x.Probe == ProbeSuite.AttentivePositions).ToList();
            table.Row(c.Masking, c.Target, $"{c.DecoderBudget:P0}", $"{c.MaxTokens}", row.Linear is { } l ? Mean(l) : "", row.Attentive is { } a ? Mean(a) : "",
                row.AttentivePositions is { } p ? Mean(p) : "",
                verdict.Count == 0 ? "" : verdict.All(v => v.Beats) ? "beats all" : $"not above {verdict.First(v => !v.Beats).Baseline}",
                row.AttentivePositions?.ValTop1 is { } val ? $"{val:P1}" : "-",
                $"{row.MsPerStep:F1}", c.Decoder == LvMae.Model.Adaptive.DecoderMasking.Adaptive ? $"{row.ScorerMsPerStep:F1}" : "", row.PeakRssBytes > 0 ? $"{row.PeakRssBytes / 1048576.0:F0}" : "n/a",
                $"{row.DecoderTokensPerStep:F1}", $"{row.FinalLoss:F4}");
        }
        return table;
    }

    /// <summary>The configuration a user should take: the best val attentive+pos top-1 (never chosen on test).</summary>
    public static string BestOnVal(IReadOnlyList<AblationRow> rows)
    {
        var scored = rows.Where(r => r.Config is not null && r.AttentivePositions?.ValTop1 is not null).ToList();
        if (scored.Count == 0) return "no val split: no configuration is chosen (give videos split=val to choose one; the test split never chooses)";
        var best = scored.MaxBy(r => r.AttentivePositions!.ValTop1!.Value)!;
        return $"chosen on val: {best.Name} (val attentive+pos {best.AttentivePositions!.ValTop1:P1}; its test score above is reported, not used to choose)";
    }

    private static ProbeScore Score(string features, ProbeSummary s) => new()
    {
        Column = "label", Features = features, Probe = s.Probe, Top1 = s.Top1, Top1Sd = s.Top1Sd, Seeds = s.Seeds, Train = s.Train, Test = s.Test, Val = s.Val,
    };

    private static (IReadOnlyList<AblationVideo>, int, string) Load(string dir, string? labelsCsv, string? column)
    {
        var imported = EmbeddingImport.ImportDirectory(dir, labelsCsv);
        if (imported.LabelColumns.Count == 0) throw new ArgumentException("--labels is required with --embeddings (a CSV with an id column and a label column)");
        var name = column ?? imported.LabelColumns.First(c => c != RunLabels.SplitColumn);
        if (!imported.LabelColumns.Contains(name)) throw new ArgumentException($"no label column '{name}'; columns: {string.Join(", ", imported.LabelColumns)}");
        // A video without a value in the column pre-trains only (as `lvmae train` treats it): never a class of its own.
        var videos = imported.Videos
            .Select(v => (v, Label: v.Labels.GetValueOrDefault(name) ?? ""))
            .Select(x => new AblationVideo(x.v.VideoId, x.v.Embeddings, x.Label, x.Label.Length == 0 ? SplitRole.Pretrain : RunLabels.SplitOf(x.v.VideoId, x.v.Labels)))
            .ToList();
        return (videos, imported.Dimension, $"{dir} (label '{name}')");
    }

    /// <summary>Embedding-level stand-in for the benchmark corpus: the corpus plan's step timelines
    /// (labels = activity, decided by step ORDER), each 5 s segment embedded as its step's fixed random
    /// prototype plus noise. No rendering, no encoder: seconds to build.</summary>
    private static (IReadOnlyList<AblationVideo>, int, string) Synthetic(int count, long seed)
    {
        const int dim = 64;
        var manifest = SyntheticCorpus.Plan(CorpusSpec.Default with { VideoCount = count });
        var rng = new Random((int)seed + 11);
        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var prototypes = manifest.StepTypes.Select(_ => Enumerable.Range(0, dim).Select(_ => (float)Gaussian()).ToArray()).ToList();
        var index = manifest.StepTypes.Select((s, i) => (s, i)).ToDictionary(x => x.s.Name, x => x.i);
        var videos = manifest.Videos.Select(v =>
        {
            var segments = manifest.SegmentSteps(v.VideoId);
            var data = new float[segments.Count * dim];
            for (var j = 0; j < segments.Count; j++)
                for (var k = 0; k < dim; k++) data[j * dim + k] = prototypes[index[segments[j].Step]][k] + (float)(0.5 * Gaussian());
            return new AblationVideo(v.VideoId, data, v.Activity, RunLabels.SplitOf(v.VideoId, new Dictionary<string, string> { [RunLabels.SplitColumn] = v.Split }));
        }).ToList();
        return (videos, dim, $"synthetic corpus plan ({count} videos, label 'activity', the plan's split)");
    }
}
