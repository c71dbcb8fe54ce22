using System.CommandLine;
using LvMae.Contracts;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>`lvmae retry &lt;id&gt;... | --failed [--include-permanent]`: start failed videos again from their last good stage.</summary>
public sealed class RetryCommand : ICliCommand
{
    public Command Build()
    {
        var ids = new Argument<string[]>("ids") { Description = "Video ids to retry", Arity = ArgumentArity.ZeroOrMore };
        var failed = new Option<bool>("--failed") { Description = "Retry every failed video whose failure may be transient" };
        var permanent = new Option<bool>("--include-permanent") { Description = "With --failed: also videos whose input was judged corrupt" };
        var command = new Command("retry", "Retry failed videos (transient failures such as storage or tool errors)") { ids, failed, permanent };
        command.SetAction((parse, cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var targets = parse.GetValue(ids)!.ToList();
            if (targets.FirstOrDefault(id => !BlobLayout.IsValidId(id)) is { } bad) { CommandLine.Error($"malformed video id '{bad}'"); return ExitCodes.Usage; }
            if (parse.GetValue(failed))
            {
                await foreach (var e in client.Grains.ListAsync(new VideoQuery { Stage = VideoStage.Failed, Limit = 1000 }, cancellationToken))
                    targets.Add(e.Id);
            }
            if (targets.Count == 0) { CommandLine.Error("name video ids or use --failed"); return ExitCodes.Usage; }
            var retried = 0;
            foreach (var id in targets.Distinct())
            {
                var grain = client.Grains.GetGrain<IVideoGrain>(id);
                var status = await grain.GetStatus();
                if (!status.Exists || status.Stage != VideoStage.Failed) continue;
                if (status.Failure?.Permanent == true && !parse.GetValue(permanent) && parse.GetValue(failed)) continue;
                await grain.Retry();
                retried++;
            }
            AnsiConsole.MarkupLine($"retrying {retried} video(s); follow with [bold]lvmae status[/]");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
