using System.CommandLine;
using System.Net.Sockets;
using LvMae.Silo;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>`lvmae up`: Azurite (blob storage) + one local silo with the HTTP API and dashboard, until Ctrl+C.</summary>
public sealed class UpCommand : ICliCommand
{
    public Command Build()
    {
        var blobPort = new Option<int>("--blob-port") { Description = "Azurite blob port (10000 matches the default LVMAE__Storage__ConnectionString=UseDevelopmentStorage=true that other commands use)", DefaultValueFactory = _ => 10000 };
        var data = new Option<string>("--data") { Description = "Azurite data folder", DefaultValueFactory = _ => Path.Combine(Environment.CurrentDirectory, ".lvmae", "azurite") };
        var noAzurite = new Option<bool>("--no-azurite") { Description = "Use the configured storage (LVMAE__Storage__ConnectionString) instead of starting Azurite" };
        var jobs = new Option<int?>("--jobs") { Description = "Concurrent ffmpeg/encoder jobs in this silo" };
        var command = new Command("up", "Start Azurite and a local silo (HTTP API + dashboard on 127.0.0.1); Ctrl+C stops both")
        {
            blobPort, data, noAzurite, jobs,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            LvMaeSiloSettings settings;
            try { settings = Cli.Settings(); }
            catch (LvMaeConfigurationException e) { Cli.Error(e.Message); return ExitCodes.Usage; }
            if (parse.GetValue(jobs) is { } j) settings.Processing.MaxConcurrentJobs = j;
            settings.Logging.MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning;
            settings.Logging.OrleansLevel = Microsoft.Extensions.Logging.LogLevel.Error;

            await using var azurite = parse.GetValue(noAzurite) ? null : await LocalAzurite.StartAsync(parse.GetValue(blobPort), parse.GetValue(data)!);
            if (azurite is not null) settings.Storage.ConnectionString = azurite.ConnectionString;
            try
            {
                await using var silo = await LvMaeSiloHost.StartAsync(settings, cancellationToken);
                var table = new ResultTable("what", "where");
                table.Row("blob storage", azurite is null ? "configured connection string" : $"Azurite on 127.0.0.1:{azurite.Port} ({azurite.DataDirectory}){(azurite.Reused ? ", already running" : "")}");
                table.Row("gateway", $"127.0.0.1:{settings.Clustering.GatewayPort} ({settings.Clustering.Mode} clustering)");
                if (silo.ApiAddress is { } api)
                {
                    table.Row("HTTP API", $"{api}corpus/summary, {api}videos?state=Failed");
                    if (settings.Api.Dashboard) table.Row("dashboard", new Uri(api, settings.Api.DashboardPath).ToString());
                }
                table.Row("jobs per silo", settings.Processing.MaxConcurrentJobs.ToString());
                table.Write();
                AnsiConsole.MarkupLine("[green]lvmae is up[/]; in another shell: [bold]./lvmae ingest DIR --encoder builtin[/], [bold]./lvmae status[/]. Ctrl+C to stop.");
                try { await Task.Delay(Timeout.Infinite, cancellationToken); }
                catch (OperationCanceledException) { }
                AnsiConsole.MarkupLine("stopping...");
                return ExitCodes.Ok;
            }
            catch (LvMaeConfigurationException e) { Cli.Error(e.Message); return ExitCodes.Usage; }
            catch (Exception e) when (e.InnerException is SocketException or IOException || e is IOException)
            {
                Cli.Error($"could not start the silo: {e.Message} (is another `lvmae up` or silo running? ports: silo {settings.Clustering.SiloPort}, gateway {settings.Clustering.GatewayPort}, API {settings.Api.Port})");
                return ExitCodes.Failed;
            }
        });
        return command;
    }
}

