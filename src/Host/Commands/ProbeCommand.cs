using System.CommandLine;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Cli.Hosted.Commands;

/// <summary>`lvmae probe --run R --task COLUMN [--kind linear|attentive|regression]`: probes the run's latest checkpoint on one label column.</summary>
public sealed class ProbeCommand : ICliCommand
{
    public Command Build()
    {
        var run = new Option<string>("--run") { Description = "Run name", Required = true };
        var task = new Option<string>("--task") { Description = "Label column to probe (column=value labels, or --label-columns names)", Required = true };
        var kind = new Option<string?>("--kind") { Description = "linear | attentive | regression (default: linear and attentive)" };
        var command = new Command(HostedCommands.Probe.Name, HostedCommands.Probe.Description) { run, task, kind };
        command.SetAction((parse, cancellationToken) => Cli.WithClientAsync(async (settings, client) =>
        {
            var name = parse.GetValue(run)!;
            if (!BlobLayout.IsValidId(name)) { Cli.Error($"malformed run name '{name}'"); return ExitCodes.Usage; }
            var column = parse.GetValue(task)!;
            var grain = client.Grains.GetGrain<ITrainingRunGrain>(name);
            var before = await grain.GetProgress();
            if (before.State == TrainingState.None) { Cli.Error($"no run '{name}'"); return ExitCodes.Failed; }
            if (before.LatestCheckpoint is null) { Cli.Error($"run '{name}' has no checkpoint yet"); return ExitCodes.Failed; }
            await grain.Probe(column, parse.GetValue(kind));
            TrainingProgress p;
            do
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                p = await grain.GetProgress();
            } while (p.Probing);
            var scores = p.Probes.Where(s => s.Column == column && s.Step == p.LatestCheckpointStep).ToList();
            if (scores.Count == 0) { Cli.Error($"no probe result for '{column}' (no labelled videos with that column in both splits?)"); return ExitCodes.Failed; }
            TrainingCli.RenderProbes(scores);
            return ExitCodes.Ok;
        }));
        return command;
    }
}
