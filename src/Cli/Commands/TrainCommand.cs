using System.CommandLine;
using LvMae.Contracts;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae train --run R [--preset tiny|small|base|paper] [--masking random|semantic|semantic-keep|uniform] [--ratio X]
/// [--decoder all|random|adaptive] [--decoder-budget F] [--targets embedding|fsq] [--fsq-levels 8,5,5,5] [--steps N | --epochs N] [--encoder E] [--probe-every K] [--wait]`: starts (or reattaches to) a training run.
/// </summary>
public sealed class TrainCommand : ICliCommand
{
    public Command Build()
    {
        var run = new Option<string>("--run") { Description = "Run name (A-Z a-z 0-9 . _ -)", Required = true };
        var preset = new Option<string>("--preset") { Description = "Model preset: tiny | small | base | paper", DefaultValueFactory = _ => "small" };
        var masking = new Option<string>("--masking") { Description = "random | semantic | semantic-keep | uniform", DefaultValueFactory = _ => "random" };
        var ratio = new Option<double?>("--ratio") { Description = "Mask ratio (default: 0.4 random, 0.5 semantic/uniform)" };
        var decoder = new Option<string>("--decoder") { Description = "Decoder targets: all masked tokens (LV-MAE) | random | adaptive (LVMAE token scorer) budget", DefaultValueFactory = _ => "all" };
        var decoderBudget = new Option<double>("--decoder-budget") { Description = "Fraction of each video's tokens the decoder reconstructs with random/adaptive", DefaultValueFactory = _ => 0.15 };
        var targets = new Option<string>("--targets") { Description = "Reconstruction targets: embedding (MSE) | fsq (cross-entropy on FSQ codes fitted on the corpus first)", DefaultValueFactory = _ => "embedding" };
        var fsqLevels = new Option<string>("--fsq-levels") { Description = "FSQ levels per channel, comma-separated", DefaultValueFactory = _ => "8,5,5,5" };
        var steps = new Option<long?>("--steps") { Description = "Optimisation steps" };
        var epochs = new Option<long?>("--epochs") { Description = "Passes over the corpus (when --steps is not given; default 10)" };
        var encoder = new Option<string>("--encoder") { Description = "Train on videos embedded with this encoder", DefaultValueFactory = _ => "resnet18" };
        var probeEvery = new Option<long>("--probe-every") { Description = "Probe every K steps (0 = only at the end, -1 = never)", DefaultValueFactory = _ => 500 };
        var checkpointEvery = new Option<long>("--checkpoint-every") { Description = "Checkpoint every N steps", DefaultValueFactory = _ => 200 };
        var batch = new Option<int>("--batch") { Description = "Batch size", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Seed (weights, masks, batches)", DefaultValueFactory = _ => 0 };
        var labelColumns = new Option<string?>("--label-columns") { Description = "Names of positional labels, comma-separated (e.g. the ingest CSV header after the id)" };
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda[:N]", DefaultValueFactory = _ => "auto" };
        var wait = new Option<bool>("--wait") { Description = "Print progress until the run ends" };
        var command = new Command("train", "Start a training run (LV-MAE on the embedded corpus) or reattach to one")
            { run, preset, masking, ratio, decoder, decoderBudget, targets, fsqLevels, steps, epochs, encoder, probeEvery, checkpointEvery, batch, seed, labelColumns, device, wait };
        command.SetAction((parse, cancellationToken) => Cli.WithClientAsync(async (settings, client) =>
        {
            var name = parse.GetValue(run)!;
            if (!BlobLayout.IsValidId(name)) { Cli.Error($"malformed run name '{name}'"); return ExitCodes.Usage; }
            if (!Cli.TryWholeNumbers("--fsq-levels", parse.GetValue(fsqLevels)!, 1, out var levels)) return ExitCodes.Usage;
            var config = new TrainingRunConfig
            {
                Preset = parse.GetValue(preset)!,
                Masking = parse.GetValue(masking)!,
                MaskRatio = parse.GetValue(ratio),
                DecoderMasking = parse.GetValue(decoder)!,
                DecoderBudget = parse.GetValue(decoderBudget),
                Targets = parse.GetValue(targets)!,
                FsqLevels = levels,
                Steps = parse.GetValue(steps),
                Epochs = parse.GetValue(steps) is null ? parse.GetValue(epochs) ?? 10 : null,
                Encoder = parse.GetValue(encoder)!,
                ProbeEvery = parse.GetValue(probeEvery),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                BatchSize = parse.GetValue(batch),
                Seed = parse.GetValue(seed),
                Device = parse.GetValue(device)!,
                LabelColumns = (parse.GetValue(labelColumns) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
            };
            var grain = client.Grains.GetGrain<ITrainingRunGrain>(name);
            var progress = await grain.Start(config);
            AnsiConsole.MarkupLine($"run [bold]{Markup.Escape(name)}[/]: {progress.State} on {Markup.Escape(progress.Silo ?? "?")} ({progress.TotalSteps} steps)");
            if (!parse.GetValue(wait)) return ExitCodes.Ok;
            progress = await TrainingCli.FollowAsync(grain, cancellationToken);
            return progress.State == TrainingState.Done ? ExitCodes.Ok : ExitCodes.Failed;
        }));
        return command;
    }
}

/// <summary>What the training commands share: following a run, printing progress and probe tables.</summary>
public static class TrainingCli
{
    public static string Line(TrainingProgress p) =>
        $"{p.State} step {p.Step}/{p.TotalSteps} epoch {p.Epoch} loss {p.Loss?.ToString("F4") ?? "-"} lr {p.LearningRate?.ToString("G3") ?? "-"} " +
        $"{p.TokensPerSecond?.ToString("F0") ?? "-"} tok/s eta {(p.Eta is { } e ? e.ToString(@"hh\:mm\:ss") : "-")} " +
        $"ckpt {p.LatestCheckpointStep} skipped {p.SkippedVideos} device {p.Device ?? "-"}";

    /// <summary>Prints a progress line every 2 s until the run is no longer Training (and its last probe is done).</summary>
    public static async Task<TrainingProgress> FollowAsync(ITrainingRunGrain grain, CancellationToken cancellationToken)
    {
        string? last = null;
        while (true)
        {
            var p = await grain.GetProgress();
            var line = Line(p);
            if (line != last) Console.WriteLine(line);
            last = line;
            if (p.State != TrainingState.Training && !p.Probing)
            {
                if (p.Message is { } m) Console.WriteLine(m);
                if (p.Codebook is { } codebook) Console.WriteLine(codebook);
                foreach (var skip in p.RecentSkips) Console.WriteLine($"skipped {skip}");
                RenderProbes(p.Probes);
                return p;
            }
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        }
    }

    public static void RenderProbes(IEnumerable<ProbeScore> scores)
    {
        var list = scores.OrderBy(s => s.Column, StringComparer.Ordinal).ThenBy(s => s.Probe, StringComparer.Ordinal).ThenBy(s => s.Features, StringComparer.Ordinal).ToList();
        if (list.Count == 0) return;
        var table = new ResultTable("column", "probe", "features", "top-1", "mse", "train/test", "step");
        foreach (var s in list)
            table.Row(s.Column, s.Probe, s.Features, s.Top1?.ToString("P1") ?? "-", s.Mse?.ToString("G4") ?? "-", $"{s.Train}/{s.Test}", s.Step.ToString());
        table.Write();
    }
}
