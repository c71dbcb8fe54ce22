using System.CommandLine;
using LvMae.Contracts;
using LvMae.Corpus;
using LvMae.Demo;
using Spectre.Console;

namespace LvMae.Cli.Hosted.Commands;

/// <summary>`lvmae demo [--quick]`: the main job end to end on this machine (a thin shell over <see cref="DemoRunner"/>).</summary>
public sealed class DemoCommand : ICliCommand
{
    public Command Build()
    {
        var quick = new Option<bool>("--quick") { Description = "Smoke run in a few minutes: the quick corpus (24 videos), the builtin encoder, 300 steps, random and semantic masking, one pre-training seed" };
        var workDir = new Option<string?>("--work-dir") { Description = "Corpus, Azurite data and report folder (default ./.lvmae/demo, or ./.lvmae/demo-quick with --quick); reused across runs" };
        var encoder = new Option<string?>("--encoder") { Description = "Segment encoder: resnet18 (default) | builtin (default with --quick) | model:<file.onnx>" };
        var steps = new Option<long?>("--steps") { Description = $"Pre-training steps per run (default {TrainingRunConfig.DefaultSteps}, as `lvmae train`; 300 with --quick)" };
        var preset = new Option<string?>("--preset") { Description = "LV-MAE model preset: tiny | small (default) | base | paper" };
        var maskings = new Option<string?>("--masking") { Description = "Comma-separated masking strategies, one model per pre-training seed each (default random; lvmae ablate compares the others)" };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (default: the product's, as lvmae train)" };
        var probeSeeds = new Option<int?>("--probe-seeds") { Description = "Seeds per probe cell (default 3; the table shows mean ± sd)" };
        var seeds = new Option<string?>("--seeds") { Description = "Comma-separated pre-training seeds per masking (default 1,2,3; the LV-MAE rows are their mean ± sd)" };
        var maskRatio = new Option<double?>("--mask-ratio") { Description = "Masking ratio of every strategy (default: lvmae train's, random 0.6, semantic 0.5)" };
        var probeEpochs = new Option<int?>("--probe-epochs") { Description = "Epochs of every probe (default: the paper's 30 linear / 20 attentive)" };
        var pretrainOnHeldOut = new Option<bool>("--pretrain-on-held-out") { Description = "Pre-train on the test videos' embeddings too, never their labels (default: the train and pretrain splits only)" };
        var jobs = new Option<int?>("--jobs") { Description = "Concurrent ffmpeg/encoder jobs in the demo's silo (default: half the cores)" };
        var command = new Command(HostedCommands.Demo.Name, HostedCommands.Demo.Description)
        {
            quick, workDir, encoder, steps, preset, maskings, seeds, lr, probeSeeds, maskRatio, probeEpochs, jobs, pretrainOnHeldOut,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var isQuick = parse.GetValue(quick);
            var dir = parse.GetValue(workDir) ?? Path.Combine(Environment.CurrentDirectory, ".lvmae", isQuick ? "demo-quick" : "demo");
            var options = isQuick ? DemoOptions.QuickRun(dir) : DemoOptions.Default(dir);
            if (parse.GetValue(encoder) is { } e) options = options with { Encoder = e };
            if (parse.GetValue(steps) is { } s) options = options with { Steps = s };
            if (parse.GetValue(preset) is { } p) options = options with { Preset = p };
            if (parse.GetValue(maskings) is { } m) options = options with { Maskings = m.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) };
            if (parse.GetValue(lr) is { } l) options = options with { LearningRate = l };
            if (parse.GetValue(probeSeeds) is { } ps) options = options with { ProbeSeeds = ps };
            if (parse.GetValue(seeds) is { } sd)
            {
                var parsed = sd.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(x => int.TryParse(x, out var v) ? (int?)v : null).ToList();
                if (parsed.Count == 0 || parsed.Any(x => x is null)) { CommandLine.Error($"--seeds '{sd}': expected comma-separated whole numbers, e.g. 1,2,3"); return ExitCodes.Usage; }
                options = options with { PretrainingSeeds = parsed.Select(x => x!.Value).ToList() };
            }
            if (parse.GetValue(maskRatio) is { } mr) options = options with { MaskRatio = mr };
            if (parse.GetValue(probeEpochs) is { } pe) options = options with { ProbeEpochs = pe };
            if (parse.GetValue(jobs) is { } j) options = options with { Jobs = j };
            if (parse.GetValue(pretrainOnHeldOut)) options = options with { PretrainOnHeldOut = true };
            try { options.Validate(); }
            catch (ArgumentException ex) { CommandLine.Error(ex.Message); return ExitCodes.Usage; }

            AnsiConsole.MarkupLine($"[bold]lvmae demo[/]{(isQuick ? " --quick" : "")}: work directory [blue]{Markup.Escape(options.WorkDirectory)}[/]");
            DemoResult result;
            try
            {
                result = await new DemoRunner(options, new SpectreDemoConsole()).RunAsync(cancellationToken);
            }
            catch (OperationCanceledException) { CommandLine.Error("cancelled"); return ExitCodes.Failed; }
            catch (CorpusGenerationException ex) { CommandLine.Error(ex.Message); return ExitCodes.Failed; }
            catch (FileNotFoundException ex) { CommandLine.Error(ex.Message); return ExitCodes.Failed; }
            catch (InvalidOperationException ex) { CommandLine.Error(ex.Message); return ExitCodes.Failed; }

            var table = new ResultTable([.. DemoReport.Header(result.Columns)]) { Title = "held-out probes on the corpus's test split" };
            foreach (var row in DemoReport.TableRows(result.Columns, result.Rows)) table.Row([.. row.Select(c => (Cell)c)]);
            table.Write();
            AnsiConsole.MarkupLine($"paper's claim on activity (LV-MAE attentive, mean over {result.Setup.PretrainingSeeds} pre-training seed(s), beats the majority baseline, both raw baselines and its step-0 model): [bold]{Markup.Escape(DemoReport.ClaimVerdict(result.Claims))}[/]");
            foreach (var (masking, points) in DemoReport.MarginOverRaw(result.Claims))
                AnsiConsole.MarkupLine(Markup.Escape($"  {masking} masking: LV-MAE attentive {(points >= 0 ? "+" : "")}{points:0.0} points above the best raw baseline"));
            foreach (var r in result.Retrieval)
                AnsiConsole.MarkupLine(Markup.Escape($"caption retrieval, {r.Masking}: reconstruction -> true step {DemoReport.Pct(r.ReconstructionHit)} of {r.MaskedSegments} masked segments (original {DemoReport.Pct(r.OriginalHit)}, chance {DemoReport.Pct(r.Chance)})"));
            var timings = new ResultTable("phase", "wall", "CPU", "detail");
            foreach (var t in result.Timings) timings.Row(t.Phase, DemoReport.Dur(t.Elapsed), t.Cpu is { } c ? DemoReport.Dur(c) : "", t.Detail);
            timings.Row(new Cell("total", "bold"), new Cell(DemoReport.Dur(result.Total), "bold"), "", "");
            timings.Write();
            AnsiConsole.MarkupLine($"report: [blue]{Markup.Escape(Path.Combine(Path.GetDirectoryName(result.ReportFiles.FirstOrDefault() ?? options.WorkDirectory) ?? "", DemoReport.ReportFileName))}[/]");
            return ExitCodes.Ok;
        });
        return command;
    }
}
