using System.CommandLine;
using LvMae.Contracts;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>`lvmae runs [&lt;name&gt;] [--json]`: training runs known to the run registry.</summary>
public sealed class RunsCommand : ICliCommand
{
    public Command Build()
    {
        var name = new Argument<string?>("name") { Description = "A run name (omit to list all)", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "JSON output" };
        var command = new Command("runs", "List training runs, or show one") { name, json };
        command.SetAction((parse, cancellationToken) => Cli.WithClientAsync(async (settings, client) =>
        {
            var registry = client.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key);
            if (parse.GetValue(name) is { } run)
            {
                if (!BlobLayout.IsValidId(run)) { Cli.Error($"malformed run name '{run}'"); return ExitCodes.Usage; }
                var summary = await registry.Get(run);
                if (summary is null) { Cli.Error($"no run '{run}'"); return ExitCodes.Failed; }
                if (parse.GetValue(json)) Cli.WriteJson(summary); else Render([summary]);
                return ExitCodes.Ok;
            }
            var runs = await registry.List();
            if (parse.GetValue(json)) Cli.WriteJson(runs);
            else if (runs.Count == 0) AnsiConsole.MarkupLine("no training runs yet");
            else Render(runs);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void Render(IEnumerable<RunSummary> runs)
    {
        var table = new ResultTable("run", "state", "step", "updated", "metrics", "checkpoint");
        foreach (var r in runs)
            table.Row(r.Name, r.State, r.Step.ToString(), r.UpdatedAt.ToString("u"),
                string.Join(", ", r.Metrics.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value:G4}")), r.LatestCheckpoint ?? "-");
        table.Write();
    }
}
