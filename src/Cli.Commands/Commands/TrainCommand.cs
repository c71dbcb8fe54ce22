using System.CommandLine;
using LvMae.Contracts;
using LvMae.Runs;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae train --run R [--preset tiny|small|base|paper] [--model Name=value,...] [--masking ...] [--ratio X] [--decoder all|random|adaptive]
/// [--decoder-budget F] [--targets embedding|fsq] [--fsq-levels 8,5,5,5] [--steps N | --epochs N] [--lr X] [--warmup N]
/// [--max-tokens N] [--window whole|MIN..MAX] [--probe-epochs N] [--probe-seeds N] [--threads N] [--encoder E]
/// [--probe-every K] [--resume] [--wait]`: starts a training run, or reattaches to one with the same config; a run of that
/// name with another config is refused unless --resume (which continues the existing run as it is).
/// </summary>
public sealed class TrainCommand : ICliCommand
{
    public Command Build()
    {
        var run = new Option<string>("--run") { Description = "Run name (A-Z a-z 0-9 . _ -)", Required = true };
        var preset = new Option<string>("--preset") { Description = "Model preset: tiny | small | base | paper", DefaultValueFactory = _ => "small" };
        var model = new Option<string?>("--model") { Description = "Architecture settings over the preset, Name=value,... (e.g. DecoderDim=128,DecoderHeads=8,RelativePositionRange=null; an unknown name is refused with the known ones)" };
        var masking = new Option<string>("--masking") { Description = string.Join(" | ", TrainingRunConfig.MaskingNames) + " | span:N (contiguous blocks of N tokens on average)", DefaultValueFactory = _ => "random" };
        var ratio = new Option<double?>("--ratio") { Description = "Mask ratio (default: 0.6 random, chosen on val of the learning bench; 0.5 semantic/uniform/span)" };
        var decoder = new Option<string>("--decoder") { Description = "Decoder targets: all masked tokens (LV-MAE) | random | adaptive (LVMAE token scorer) budget", DefaultValueFactory = _ => "all" };
        var decoderBudget = new Option<double>("--decoder-budget") { Description = "Fraction of each video's tokens the decoder reconstructs with random/adaptive", DefaultValueFactory = _ => 0.15 };
        var targets = new Option<string>("--targets") { Description = "Reconstruction targets: embedding (MSE) | fsq (cross-entropy on FSQ codes fitted on the corpus first)", DefaultValueFactory = _ => "embedding" };
        var fsqLevels = new Option<string>("--fsq-levels") { Description = "FSQ levels per channel, comma-separated", DefaultValueFactory = _ => "8,5,5,5" };
        var steps = new Option<long?>("--steps") { Description = $"Optimisation steps (default: {TrainingRunConfig.DefaultSteps}, or {TrainingRunConfig.DefaultEpochs} epochs when that is more)" };
        var epochs = new Option<long?>("--epochs") { Description = "Passes over the training videos (instead of --steps)" };
        var lr = new Option<double?>("--lr") { Description = $"Peak learning rate (default {TrainingRunConfig.DefaultPeakLr})" };
        var warmup = new Option<long?>("--warmup") { Description = $"Warm-up steps (default {TrainingRunConfig.DefaultWarmupFraction:P0} of the steps), then cosine decay" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Longest sequence the model sees, in 5 s segments", DefaultValueFactory = _ => 256 };
        var window = new Option<string>("--window") { Description = "Training samples: whole (whole videos up to --max-tokens) | MIN..MAX seconds of duration sampling (paper: 10..1280)", DefaultValueFactory = _ => TrainingRunConfig.WholeWindow };
        var probeEpochs = new Option<int?>("--probe-epochs") { Description = "Probe epochs (default: the paper's 30 linear / 20 attentive)" };
        var probeSeeds = new Option<int>("--probe-seeds") { Description = "Seeds per probe (scores are mean ± sd)", DefaultValueFactory = _ => 3 };
        var threads = new Option<int?>("--threads") { Description = "libtorch threads of the silo (process-wide; default: leave as is)" };
        var encoder = new Option<string>("--encoder") { Description = "Train on videos embedded with this encoder", DefaultValueFactory = _ => "resnet18" };
        var probeEvery = new Option<long>("--probe-every") { Description = "Probe every K steps (0 = only at the end, -1 = never)", DefaultValueFactory = _ => 500 };
        var checkpointEvery = new Option<long>("--checkpoint-every") { Description = "Checkpoint every N steps", DefaultValueFactory = _ => 200 };
        var batch = new Option<int>("--batch") { Description = "Batch size", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Seed (weights, masks, batches, probes)", DefaultValueFactory = _ => 0 };
        var labelColumns = new Option<string?>("--label-columns") { Description = "Names of positional labels, comma-separated (e.g. the ingest CSV header after the id)" };
        var regressionColumns = new Option<string?>("--regression-columns") { Description = "Label columns probed by regression, comma-separated (default: numeric columns with more than 10 values)" };
        var heldOut = new Option<bool>("--train-on-held-out") { Description = "Pre-train on val/test videos too (default: the held-out split is never trained on)" };
        var device = new Option<string>("--device") { Description = "auto | cpu | cuda[:N]", DefaultValueFactory = _ => "auto" };
        var resume = new Option<bool>("--resume") { Description = "Continue the existing run of this name as it is (its own config), whatever these options say" };
        var wait = new Option<bool>("--wait") { Description = "Follow the run until it ends: live bars (step, loss, tok/s, ETA, probe fits) on a terminal, a line per change when redirected" };
        var command = new Command("train", "Start a training run (LV-MAE on the embedded corpus) or reattach to one")
        {
            run, preset, model, masking, ratio, decoder, decoderBudget, targets, fsqLevels, steps, epochs, lr, warmup, maxTokens, window, probeEpochs, probeSeeds,
            threads, encoder, probeEvery, checkpointEvery, batch, seed, labelColumns, regressionColumns, heldOut, device, resume, wait,
        };
        command.SetAction((parse, cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var name = parse.GetValue(run)!;
            if (!BlobLayout.IsValidId(name)) { CommandLine.Error($"malformed run name '{name}'"); return ExitCodes.Usage; }
            if (!CommandLine.TryWholeNumbers("--fsq-levels", parse.GetValue(fsqLevels)!, 1, out var levels)) return ExitCodes.Usage;
            var grain = client.Grains.GetGrain<ITrainingRunGrain>(name);
            TrainingProgress progress;
            if (parse.GetValue(resume) && (await grain.GetProgress()).State != TrainingState.None)
                progress = await grain.Resume();
            else
            {
                var config = new TrainingRunConfig
                {
                    Preset = parse.GetValue(preset)!,
                    ModelSettings = string.IsNullOrWhiteSpace(parse.GetValue(model)) ? null : parse.GetValue(model)!.Trim(),
                    Masking = parse.GetValue(masking)!,
                    MaskRatio = parse.GetValue(ratio),
                    DecoderMasking = parse.GetValue(decoder)!,
                    DecoderBudget = parse.GetValue(decoderBudget),
                    Targets = parse.GetValue(targets)!,
                    FsqLevels = levels,
                    Steps = parse.GetValue(steps),
                    Epochs = parse.GetValue(steps) is null ? parse.GetValue(epochs) : null,
                    Lr = parse.GetValue(lr),
                    WarmupSteps = parse.GetValue(warmup),
                    MaxTokens = parse.GetValue(maxTokens),
                    Window = parse.GetValue(window)!,
                    ProbeEpochs = parse.GetValue(probeEpochs),
                    ProbeSeeds = parse.GetValue(probeSeeds),
                    TorchThreads = parse.GetValue(threads),
                    Encoder = parse.GetValue(encoder)!,
                    ProbeEvery = parse.GetValue(probeEvery),
                    CheckpointEvery = parse.GetValue(checkpointEvery),
                    BatchSize = parse.GetValue(batch),
                    Seed = parse.GetValue(seed),
                    TrainOnHeldOut = parse.GetValue(heldOut),
                    Device = parse.GetValue(device)!,
                    LabelColumns = (parse.GetValue(labelColumns) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                    RegressionColumns = (parse.GetValue(regressionColumns) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                };
                try { progress = await grain.Start(config); }
                catch (ArgumentException e) when (e.Message.Contains("exists with another config", StringComparison.Ordinal))
                {
                    CommandLine.Error($"{e.Message} (lvmae train --run {name} --resume continues it; lvmae runs delete {name} removes it)");
                    return ExitCodes.Usage;
                }
            }
            AnsiConsole.MarkupLine($"run [bold]{Markup.Escape(name)}[/]: {progress.State} on {Markup.Escape(progress.Silo ?? "?")} ({progress.TotalSteps} steps)");
            if (progress.Schedule is { } schedule) Console.WriteLine($"schedule: {schedule}");
            if (progress.Data.Count > 0) Console.WriteLine($"data: {SplitCount.Describe(progress.Data)}");
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

    /// <summary>Shows progress (a live bar on a terminal, a line per change otherwise; <see cref="RunProgressView"/>) until
    /// the run is no longer Training and its last probe is done, then its messages and probe tables.</summary>
    public static async Task<TrainingProgress> FollowAsync(ITrainingRunGrain grain, CancellationToken cancellationToken)
    {
        var p = await RunProgressView.ForTerminal().FollowAsync(grain.GetProgress, p => p.State != TrainingState.Training && !p.Probing,
            training: true, TimeSpan.FromSeconds(2), cancellationToken);
        if (p.Message is { } m) Console.WriteLine(m);
        if (p.Codebook is { } codebook) Console.WriteLine(codebook);
        foreach (var skip in p.RecentSkips) Console.WriteLine($"skipped {skip}");
        RenderProbes(p.Probes);
        return p;
    }

    /// <summary>The probe table (mean ± sd over seeds; majority baseline and raw baselines next to LV-MAE) and the verdict
    /// lines: an LV-MAE probe wins only when it beats the majority baseline and both raw baselines.</summary>
    public static void RenderProbes(IEnumerable<ProbeScore> scores)
    {
        var list = scores.OrderBy(s => s.Column, StringComparer.Ordinal).ThenBy(s => FeatureOrder(s.Features)).ThenBy(s => s.Probe, StringComparer.Ordinal).ToList();
        if (list.Count == 0) return;
        var table = new ResultTable("column", "features", "probe", "test top-1 (mean ± sd)", "val top-1", "test mse (mean ± sd)", "train/val/test", "seeds", "step");
        foreach (var s in list)
            table.Row(s.Column, s.Features, s.Probe, s.Top1 is { } t ? ProbeVerdict.Mean(t, s.Top1Sd) : "-",
                s.ValTop1 is { } v ? ProbeVerdict.Mean(v, null) : "-", s.Mse is { } m ? $"{m:G4}{(s.MseSd is { } sd ? $" ± {sd:G3}" : "")}" : "-",
                $"{s.Train}/{s.Val}/{s.Test}", s.Seeds.ToString(), s.Step.ToString());
        table.Write();
        var comparisons = ProbeVerdict.Compare(list);
        foreach (var (column, probe) in comparisons.Select(c => (c.Column, c.Probe)).Distinct())
            Console.WriteLine(ProbeVerdict.Line(comparisons, column, probe));
    }

    /// <summary>The run <paramref name="name"/>'s grain and progress when the run exists and has a checkpoint (what export
    /// and probe work on); null after printing why not.</summary>
    public static async Task<(ITrainingRunGrain Grain, TrainingProgress Progress)?> CheckpointedRunAsync(IGrainFactory grains, string name)
    {
        var grain = grains.GetGrain<ITrainingRunGrain>(name);
        var progress = await grain.GetProgress();
        if (progress.State == TrainingState.None) { CommandLine.Error($"no run '{name}'"); return null; }
        if (progress.LatestCheckpoint is null) { CommandLine.Error($"run '{name}' has no checkpoint yet"); return null; }
        return (grain, progress);
    }

    /// <summary>
    /// Starts work on a run and waits for it (export, probe): <paramref name="start"/> queues it in the grain, then after one
    /// <paramref name="interval"/> (the request is queued; let it start) <paramref name="poll"/> is called every
    /// <paramref name="interval"/> until <paramref name="finished"/> holds; shown as it goes through <paramref name="view"/>
    /// when there is one (<see cref="RunProgressView"/>). Returns the last progress.
    /// </summary>
    public static async Task<TrainingProgress> StartAndWaitAsync(Func<Task> start, Func<Task<TrainingProgress>> poll, Func<TrainingProgress, bool> finished,
        RunProgressView? view, TimeSpan interval, CancellationToken cancellationToken)
    {
        await start();
        await Task.Delay(interval, cancellationToken);
        if (view is not null) return await view.FollowAsync(poll, finished, training: false, interval, cancellationToken);
        while (true)
        {
            var p = await poll();
            if (finished(p)) return p;
            await Task.Delay(interval, cancellationToken);
        }
    }

    /// <summary>The run's latest checkpoint, SHA-256 verified (<see cref="RunCheckpoints"/>); null after printing why not.</summary>
    public static async Task<byte[]?> LatestCheckpointAsync(BlobStore blobs, TrainingProgress run, CancellationToken cancellationToken)
    {
        if (run.LatestCheckpoint is null) { CommandLine.Error($"run '{run.Run}' has no checkpoint yet"); return null; }
        try { return (await new RunCheckpoints(blobs, run.Run).LoadAsync(run.LatestCheckpointStep, cancellationToken)).Bytes; }
        catch (InvalidDataException e) { CommandLine.Error(e.Message); return null; }
    }

    private static int FeatureOrder(string features) => features switch { ProbeScore.Majority => 0, ProbeScore.Raw => 1, ProbeScore.Untrained => 2, _ => 3 };
}
