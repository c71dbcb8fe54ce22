using System.CommandLine;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae probe --run R --task COLUMN [--kind linear|attentive|regression]`: probes the run's latest checkpoint on one label
/// column. `lvmae probe --features DIR --labels CSV --task COLUMN [--kind K] [--seeds N]`: the same probes on frozen features
/// made elsewhere (another implementation's token outputs: &lt;videoId&gt;.npy [n, W], optional &lt;videoId&gt;.cls.npy [W]),
/// with the labels CSV's split column; no cluster involved: that form trains probes in the calling process, so it runs in
/// lvmae-host (<see cref="HostedCommands.RunsInHost"/>; lvmae-host sets <see cref="FeatureProbe"/> to FeatureProbe.Run of
/// src/Grains/Training), and `lvmae` hands it the command line as typed.
/// </summary>
public sealed class ProbeCommand : ICliCommand
{
    /// <summary>The option that makes `probe` a local computation (see <see cref="HostedCommands.RunsInHost"/>).</summary>
    public const string FeaturesOption = "--features";

    /// <summary>Probes frozen features in this process (directory, labels CSV, column, kind, seeds, epochs): set by
    /// lvmae-host, which links the probes; null in `lvmae`, which never runs `probe --features` itself.</summary>
    public static Func<string, string, string, string?, int, int?, IReadOnlyList<ProbeScore>>? FeatureProbe { get; set; }

    public Command Build()
    {
        var run = new Option<string?>("--run") { Description = "Run name" };
        var task = new Option<string>("--task") { Description = "Label column to probe (column=value labels, or --label-columns names)", Required = true };
        var kind = new Option<string?>("--kind") { Description = "linear | attentive | regression (default: linear and attentive)" };
        var features = new Option<string?>(FeaturesOption) { Description = "Instead of a run: a folder of <videoId>.npy token features [n, W] (+ <videoId>.cls.npy) to probe" };
        var labels = new Option<string?>("--labels") { Description = "With --features: the labels CSV (videoId, label columns, split)" };
        var seeds = new Option<int>("--seeds") { Description = "With --features: probe seeds (mean ± sd)", DefaultValueFactory = _ => 3 };
        var epochs = new Option<int?>("--epochs") { Description = "With --features: probe epochs (default: the paper's)" };
        var command = new Command("probe", "Probe a run's latest checkpoint on one label column, next to the raw-embedding baseline") { run, task, kind, features, labels, seeds, epochs };
        command.SetAction((parse, cancellationToken) =>
        {
            if (parse.GetValue(features) is { } dir)
            {
                if (parse.GetValue(labels) is not { } csv) { CommandLine.Error("--features needs --labels"); return Task.FromResult(ExitCodes.Usage); }
                if (FeatureProbe is not { } probe)
                {
                    CommandLine.Error($"`lvmae probe {FeaturesOption}` runs in lvmae-host (it trains probes in process); run it through `lvmae`");
                    return Task.FromResult(ExitCodes.Failed);
                }
                try
                {
                    TrainingCli.RenderProbes(probe(dir, csv, parse.GetValue(task)!, parse.GetValue(kind), parse.GetValue(seeds), parse.GetValue(epochs)));
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
