using System.CommandLine;
using LvMae.Contracts;
using LvMae.Grains.Training;
using LvMae.Storage;

namespace LvMae.Cli.Hosted.Commands;

/// <summary>
/// `lvmae probe --run R --task COLUMN [--kind linear|attentive|regression]`: probes the run's latest checkpoint on one label
/// column. `lvmae probe --features DIR --labels CSV --task COLUMN [--kind K] [--seeds N]`: the same probes on frozen features
/// made elsewhere (another implementation's token outputs: &lt;videoId&gt;.npy [n, W], optional &lt;videoId&gt;.cls.npy [W]),
/// with the labels CSV's split column (<see cref="FeatureProbe"/>); no cluster involved.
/// </summary>
public sealed class ProbeCommand : ICliCommand
{
    public Command Build()
    {
        var run = new Option<string?>("--run") { Description = "Run name" };
        var task = new Option<string>("--task") { Description = "Label column to probe (column=value labels, or --label-columns names)", Required = true };
        var kind = new Option<string?>("--kind") { Description = "linear | attentive | regression (default: linear and attentive)" };
        var features = new Option<string?>("--features") { Description = "Instead of a run: a folder of <videoId>.npy token features [n, W] (+ <videoId>.cls.npy) to probe" };
        var labels = new Option<string?>("--labels") { Description = "With --features: the labels CSV (videoId, label columns, split)" };
        var seeds = new Option<int>("--seeds") { Description = "With --features: probe seeds (mean ± sd)", DefaultValueFactory = _ => 3 };
        var epochs = new Option<int?>("--epochs") { Description = "With --features: probe epochs (default: the paper's)" };
        var command = new Command(HostedCommands.Probe.Name, HostedCommands.Probe.Description) { run, task, kind, features, labels, seeds, epochs };
        command.SetAction((parse, cancellationToken) =>
        {
            if (parse.GetValue(features) is { } dir)
            {
                if (parse.GetValue(labels) is not { } csv) { CommandLine.Error("--features needs --labels"); return Task.FromResult(ExitCodes.Usage); }
                try
                {
                    TrainingCli.RenderProbes(FeatureProbe.Run(dir, csv, parse.GetValue(task)!, parse.GetValue(kind),
                        new LvMae.Model.Probing.ProbeSettings { Seeds = parse.GetValue(seeds), Epochs = parse.GetValue(epochs), Device = "auto" }));
                    return Task.FromResult(ExitCodes.Ok);
                }
                catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or LvMae.Formats.CsvDataException)
                {
                    CommandLine.Error(e.Message);
                    return Task.FromResult(ExitCodes.Usage);
                }
            }
            if (parse.GetValue(run) is null) { CommandLine.Error("give --run NAME (a training run) or --features DIR --labels CSV"); return Task.FromResult(ExitCodes.Usage); }
            return Probe(parse, cancellationToken);
        });
        return command;

        Task<int> Probe(ParseResult parse, CancellationToken cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var name = parse.GetValue(run)!;
            if (!BlobLayout.IsValidId(name)) { CommandLine.Error($"malformed run name '{name}'"); return ExitCodes.Usage; }
            var column = parse.GetValue(task)!;
            if (await TrainingCli.CheckpointedRunAsync(client.Grains, name) is not { Grain: var grain }) return ExitCodes.Failed;
            var p = await TrainingCli.StartAndWaitAsync(() => grain.Probe(column, parse.GetValue(kind)), grain.GetProgress, p => !p.Probing,
                RunProgressView.ForTerminal(), TimeSpan.FromSeconds(1), cancellationToken);
            var scores = p.Probes.Where(s => s.Column == column && s.Step == p.LatestCheckpointStep).ToList();
            if (scores.Count == 0) { CommandLine.Error($"no probe result for '{column}' (no labelled videos with that column in both splits?)"); return ExitCodes.Failed; }
            TrainingCli.RenderProbes(scores);
            return ExitCodes.Ok;
        });
    }
}
