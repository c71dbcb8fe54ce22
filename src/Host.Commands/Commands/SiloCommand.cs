using System.CommandLine;
using LvMae.Silo;

namespace LvMae.Cli.Hosted.Commands;

/// <summary>
/// `lvmae silo [--LvMae:Section:Key=value ...]`: one silo in the foreground, what each machine of a cluster runs. Hosted
/// in this process (the same code as src/Silo's executable, <see cref="SiloProcess"/>), so a machine needs only the CLI.
/// </summary>
public sealed class SiloCommand : ICliCommand
{
    public Command Build()
    {
        var settings = new Argument<string[]>(HostedCommands.Silo.Arguments!) { Description = "--LvMae:Section:Key=value ... (e.g. --LvMae:Clustering:GatewayPort=30001)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command(HostedCommands.Silo.Name, HostedCommands.Silo.Description)
        {
            settings,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var given = parse.GetValue(settings) ?? [];
            var stray = given.Where(t => t.StartsWith('-') && !t.StartsWith("--LvMae:", StringComparison.OrdinalIgnoreCase)).ToList();
            if (stray.Count > 0)
            {
                CommandLine.Error($"unknown option(s) {string.Join(", ", stray)}: settings are given as --LvMae:Section:Key=value (e.g. --LvMae:Clustering:GatewayPort=30001)");
                return ExitCodes.Usage;
            }
            return await SiloProcess.RunAsync(given, Console.Out, CommandLine.Error, cancellationToken);
        });
        return command;
    }
}
