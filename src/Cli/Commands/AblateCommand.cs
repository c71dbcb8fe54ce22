using System.CommandLine;
using LvMae.Corpus;
using LvMae.Media;
using LvMae.Model.Ablation;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae ablate`: LVMAE's ablation at the embedding level (masking x target x decoder budget, and the
/// context sweep) on one set of embeddings, printed as a table. Needs no silo: it loads embeddings
/// (a folder of .npy + labels CSV, or a synthetic set) and runs <see cref="AblationRunner"/> in process.
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
        var steps = new Option<int>("--steps") { Description = "Training steps per configuration", DefaultValueFactory = _ => 40 };
        var batch = new Option<int>("--batch") { Description = "Videos per training batch", DefaultValueFactory = _ => 8 };
        var seed = new Option<long>("--seed") { Description = "Seed for data split, weights, masks", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "cpu | cuda | auto", DefaultValueFactory = _ => "cpu" };
        var threads = new Option<int?>("--threads") { Description = "libtorch intra-op threads (default: libtorch's)" };
        var contexts = new Option<string>("--contexts") { Description = "Max-tokens sweep, comma-separated (full decoder vs 15% adaptive at each)", DefaultValueFactory = _ => "256,512,1024" };
        var json = new Option<bool>("--json") { Description = "Print the rows as JSON" };
        var command = new Command("ablate", "Train and probe masking x target x decoder-budget configurations on the same embeddings; print the table")
            { embeddings, labels, labelColumn, synthetic, full, preset, steps, batch, seed, device, threads, contexts, json };
        command.SetAction(parse =>
        {
            (IReadOnlyList<float[]> Videos, int Dim, int[] Labels, string Source) data;
            try
            {
                data = parse.GetValue(embeddings) is { } dir
                    ? Load(dir, parse.GetValue(labels), parse.GetValue(labelColumn))
                    : Synthetic(parse.GetValue(synthetic), parse.GetValue(seed));
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException or MediaException)
            {
                Cli.Error(e.Message);
                return ExitCodes.Usage;
            }
            if (data.Labels.Distinct().Count() < 2) { Cli.Error("probing needs at least two classes"); return ExitCodes.Usage; }
            if (!Cli.TryWholeNumbers("--contexts", parse.GetValue(contexts)!, 2, out var contextTokens)) return ExitCodes.Usage;
            if (parse.GetValue(threads) is { } t) TorchSharp.torch.set_num_threads(t);
            var options = new AblationOptions
            {
                Full = parse.GetValue(full), Preset = parse.GetValue(preset)!, Steps = parse.GetValue(steps),
                BatchSize = parse.GetValue(batch), Seed = parse.GetValue(seed), Device = parse.GetValue(device)!,
                ContextTokens = [.. contextTokens],
            };
            var asJson = parse.GetValue(json);
            if (!asJson)
                AnsiConsole.MarkupLine($"[bold]ablate[/] {Markup.Escape(data.Source)}: {data.Videos.Count} videos, d = {data.Dim}, {data.Labels.Distinct().Count()} classes; " +
                                       $"preset {options.Preset}, {options.Steps} steps x batch {options.BatchSize}, {AblationRunner.Grid(options).Count} configurations");
            var rows = AblationRunner.Run(data.Videos, data.Dim, data.Labels, options,
                row => { if (!asJson) AnsiConsole.MarkupLine($"[grey]done:[/] {Markup.Escape(row.Name)}"); });
            if (asJson) { Cli.WriteJson(rows); return ExitCodes.Ok; }
            foreach (var row in rows.Where(r => r.Config is null))
                AnsiConsole.MarkupLine(Markup.Escape(row.LinearTop1 is null ? row.Name : $"{row.Name}: linear top-1 {row.LinearTop1:P1}, attentive top-1 {row.AttentiveTop1:P1}"));
            Table(rows.Where(r => r.Config is not null).ToList()).Write();
            return ExitCodes.Ok;
        });
        return command;
    }

    private static ResultTable Table(IReadOnlyList<AblationRow> rows)
    {
        var table = new ResultTable("masking", "target", "budget", "tokens", "linear", "attentive", "ms/step", "of it scorer", "peak RSS MiB", "decoded/step", "loss");
        static string Pct(double? v) => v is { } x ? $"{x:P1}" : "";
        foreach (var row in rows)
        {
            var c = row.Config!;
            table.Row(c.Masking, c.Target, $"{c.DecoderBudget:P0}", $"{c.MaxTokens}", Pct(row.LinearTop1), Pct(row.AttentiveTop1),
                $"{row.MsPerStep:F1}", c.Decoder == LvMae.Model.Adaptive.DecoderMasking.Adaptive ? $"{row.ScorerMsPerStep:F1}" : "", row.PeakRssBytes > 0 ? $"{row.PeakRssBytes / 1048576.0:F0}" : "n/a",
                $"{row.DecoderTokensPerStep:F1}", $"{row.FinalLoss:F4}");
        }
        return table;
    }

    private static (IReadOnlyList<float[]>, int, int[], string) Load(string dir, string? labelsCsv, string? column)
    {
        var imported = EmbeddingImport.ImportDirectory(dir, labelsCsv);
        if (imported.LabelColumns.Count == 0) throw new ArgumentException("--labels is required with --embeddings (a CSV with an id column and a label column)");
        var name = column ?? imported.LabelColumns[0];
        if (!imported.LabelColumns.Contains(name)) throw new ArgumentException($"no label column '{name}'; columns: {string.Join(", ", imported.LabelColumns)}");
        var videos = imported.Videos.Where(v => v.Labels.ContainsKey(name)).ToList();
        var classes = videos.Select(v => v.Labels[name]).Distinct().Order(StringComparer.Ordinal).ToList();
        return (videos.Select(v => v.Embeddings).ToList(), imported.Dimension, videos.Select(v => classes.IndexOf(v.Labels[name])).ToArray(), $"{dir} (label '{name}')");
    }

    /// <summary>Embedding-level stand-in for the benchmark corpus: the corpus plan's step timelines
    /// (labels = activity, decided by step ORDER), each 5 s segment embedded as its step's fixed random
    /// prototype plus noise. No rendering, no encoder: seconds to build.</summary>
    private static (IReadOnlyList<float[]>, int, int[], string) Synthetic(int count, long seed)
    {
        const int dim = 64;
        var manifest = SyntheticCorpus.Plan(CorpusSpec.Default with { VideoCount = count });
        var rng = new Random((int)seed + 11);
        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var prototypes = manifest.StepTypes.Select(_ => Enumerable.Range(0, dim).Select(_ => (float)Gaussian()).ToArray()).ToList();
        var index = manifest.StepTypes.Select((s, i) => (s, i)).ToDictionary(x => x.s.Name, x => x.i);
        var activities = manifest.Videos.Select(v => v.Activity).Distinct().Order(StringComparer.Ordinal).ToList();
        var videos = manifest.Videos.Select(v =>
        {
            var segments = manifest.SegmentSteps(v.VideoId);
            var data = new float[segments.Count * dim];
            for (var j = 0; j < segments.Count; j++)
                for (var k = 0; k < dim; k++) data[j * dim + k] = prototypes[index[segments[j].Step]][k] + (float)(0.5 * Gaussian());
            return data;
        }).ToList();
        return (videos, dim, manifest.Videos.Select(v => activities.IndexOf(v.Activity)).ToArray(), $"synthetic corpus plan ({count} videos, label 'activity')");
    }
}
