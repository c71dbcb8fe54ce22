using System.CommandLine;
using System.Globalization;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Runs;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae runs [--json]`: every training run with its config, effective learning rate and schedule.
/// `lvmae runs show NAME [--plot FILE.png] [--json]`: one run: config, schedule, a condensed metrics table (loss, lr,
/// tokens/s by step from metrics.jsonl), the latest probe scores with their verdicts; --plot saves its plot.
/// `lvmae runs stop|resume|delete NAME`: the run's lifecycle.
/// </summary>
public sealed class RunsCommand : ICliCommand
{
    public Command Build()
    {
        var json = new Option<bool>("--json") { Description = "JSON output" };
        var command = new Command("runs", "List training runs; show, stop, resume or delete one") { json, Show(), Stop(), Resume(), Delete() };
        command.SetAction((parse, cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var runs = await client.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).List();
            if (parse.GetValue(json)) CommandLine.WriteJson(runs);
            else if (runs.Count == 0) AnsiConsole.MarkupLine("no training runs yet");
            else Render(runs);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Argument<string> RunName() => new("name") { Description = "Run name" };

    private static Command Show()
    {
        var name = RunName();
        var plot = new Option<string?>("--plot") { Description = "Save the run's plot (loss and probe accuracy against step) to this .png file" };
        var rows = new Option<int>("--rows") { Description = "Rows of the metrics table", DefaultValueFactory = _ => 12 };
        var json = new Option<bool>("--json") { Description = "JSON output (progress + metrics table)" };
        var command = new Command("show", "One run: config, schedule, metrics table, probes (and its plot with --plot)") { name, plot, rows, json };
        command.SetAction((parse, cancellationToken) => WithRunAsync(parse.GetValue(name)!, async (settings, run, progress) =>
        {
            var blobs = CommandLine.Blobs(settings);
            var log = await RunHistory.ReadAsync(blobs, progress.Run, cancellationToken);
            var history = log.Condensed(parse.GetValue(rows));
            if (parse.GetValue(plot) is { } file)
            {
                var blob = BlobLayout.RunPlot(progress.Run, RunPlots.Training);
                if (!await blobs.ExistsAsync(blob, cancellationToken)) { CommandLine.Error($"run '{progress.Run}' has no plot yet ({blob})"); return ExitCodes.Failed; }
                await blobs.DownloadToFileAsync(blob, file, cancellationToken);
            }
            if (parse.GetValue(json)) { CommandLine.WriteJson(new { progress, metrics = history, probes = log.Probes }); return ExitCodes.Ok; }
            AnsiConsole.MarkupLine($"run [bold]{Markup.Escape(progress.Run)}[/]: {progress.State} step {progress.Step}/{progress.TotalSteps}, checkpoint {progress.LatestCheckpointStep}, " +
                                   $"{progress.Resumes} resume(s){(progress.Message is { } m ? ", " + Markup.Escape(m) : "")}");
            if (progress.Schedule is { } schedule) Console.WriteLine($"schedule: {schedule}");
            if (progress.Data.Count > 0) Console.WriteLine($"data: {SplitCount.Describe(progress.Data)}");
            if (progress.Config is { } config) Console.WriteLine($"config: {Describe(config)}");
            if (progress.Codebook is { } codebook) Console.WriteLine(codebook);
            if (history.Count > 0)
            {
                var table = new Table().AddColumn("step").AddColumn("epoch").AddColumn("loss (mean since previous row)").AddColumn("lr").AddColumn("tokens/s");
                foreach (var p in history)
                    table.AddRow(p.Step.ToString(CultureInfo.InvariantCulture), p.Epoch.ToString(CultureInfo.InvariantCulture), p.Loss.ToString("F5", CultureInfo.InvariantCulture),
                        p.Lr.ToString("G3", CultureInfo.InvariantCulture), p.TokensPerSecond.ToString("F0", CultureInfo.InvariantCulture));
                AnsiConsole.Write(table);
            }
            TrainingCli.RenderProbes(progress.Probes);
            if (parse.GetValue(plot) is { } saved) AnsiConsole.MarkupLine($"plot saved to [bold]{Markup.Escape(Path.GetFullPath(saved))}[/]");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Stop() => Lifecycle("stop", "Stop a run after its current step (it checkpoints; resume continues it)", async run =>
    {
        var p = await run.Stop();
        return p.State == TrainingState.Training ? $"stopping run '{p.Run}' at step {p.Step}" : $"run '{p.Run}' is {p.State}: nothing to stop";
    });

    private static Command Resume() => Lifecycle("resume", "Resume a stopped or failed run from its latest good checkpoint", async run =>
    {
        var p = await run.Resume();
        return p.State == TrainingState.Training ? $"run '{p.Run}' is training from step {p.LatestCheckpointStep}" : $"run '{p.Run}' is {p.State}: nothing to resume";
    });

    private static Command Delete() => Lifecycle("delete", "Delete a run: its checkpoints, metrics, plots, export, state and registry entry", async run =>
    {
        var name = run.GetPrimaryKeyString();
        await run.Delete();
        return $"deleted run '{name}'";
    });

    private static Command Lifecycle(string verb, string description, Func<ITrainingRunGrain, Task<string>> act)
    {
        var name = RunName();
        var command = new Command(verb, description) { name };
        command.SetAction((parse, cancellationToken) => WithRunAsync(parse.GetValue(name)!, async (_, run, _) =>
        {
            Console.WriteLine(await act(run));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>A usage error for a malformed name, "no run" (exit 1) for an unknown one, else the body.</summary>
    private static Task<int> WithRunAsync(string name, Func<LvMaeClientSettings, ITrainingRunGrain, TrainingProgress, Task<int>> body) =>
        CommandLine.WithClientAsync(async (settings, client) =>
        {
            if (!BlobLayout.IsValidId(name)) { CommandLine.Error($"malformed run name '{name}'"); return ExitCodes.Usage; }
            var run = client.Grains.GetGrain<ITrainingRunGrain>(name);
            var progress = await run.GetProgress();
            if (progress.State == TrainingState.None) { CommandLine.Error($"no run '{name}'"); return ExitCodes.Failed; }
            return await body(settings, run, progress);
        });

    private static string Describe(TrainingRunConfig c) =>
        $"preset {c.Preset}{(c.ModelSettings is { } m ? $" with {m}" : "")}, masking {c.Masking}{(c.MaskRatio is { } r ? $" {r:0.##}" : c.Masking.Equals("random", StringComparison.OrdinalIgnoreCase) ? $" {TrainingRunConfig.DefaultRandomMaskRatio:0.##} (default)" : "")}, decoder {c.DecoderMasking}{(c.DecoderMasking == "all" ? "" : $" {c.DecoderBudget:0.##}")}, " +
        $"targets {c.Targets}, encoder {c.Encoder}, batch {c.BatchSize}, max tokens {c.MaxTokens}, window {c.Window}, " +
        $"{(c.Steps is { } s ? $"{s} steps" : c.Epochs is { } e ? $"{e} epochs" : "default length")}, seed {c.Seed}, probe seeds {c.ProbeSeeds}" +
        $"{(c.ProbeEpochs is { } pe ? $", probe epochs {pe}" : "")}{(c.TrainOnHeldOut ? ", trains on held-out videos" : "")}";

    private static void Render(IEnumerable<RunSummary> runs)
    {
        var table = new ResultTable("run", "state", "step", "config", "schedule", "loss", "probes (test top-1)", "updated");
        foreach (var r in runs)
        {
            var probes = r.Metrics.Where(kv => kv.Key.Contains('/')).OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value:0.###}");
            table.Row(r.Name, r.State, $"{r.Step}/{(r.Metrics.TryGetValue("total_steps", out var t) ? t : 0)}",
                r.Config is { } c ? $"{c.Preset}{(c.ModelSettings is { } m ? $" ({m})" : "")} {c.Masking} {c.Encoder} batch {c.BatchSize} window {c.Window}" : "-",
                r.Schedule?.ToString() ?? "-", r.Metrics.TryGetValue("loss", out var loss) ? loss.ToString("F4", CultureInfo.InvariantCulture) : "-",
                string.Join(", ", probes), r.UpdatedAt.ToString("u", CultureInfo.InvariantCulture));
        }
        table.Write();
    }
}
