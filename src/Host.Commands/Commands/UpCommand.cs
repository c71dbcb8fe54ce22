using System.CommandLine;
using System.Diagnostics;
using System.Net.Sockets;
using LvMae.Client;
using LvMae.Silo;
using Spectre.Console;

namespace LvMae.Cli.Hosted.Commands;

/// <summary>
/// `lvmae up [--detach]`: Azurite (blob storage) + one local silo with the HTTP API and dashboard; in the foreground until
/// Ctrl+C, or in the background (--detach) until `lvmae down`. Recorded in .lvmae/up.json while it runs.
/// </summary>
public sealed class UpCommand : ICliCommand
{
    public Command Build()
    {
        var blobPort = new Option<int>("--blob-port") { Description = "Azurite blob port (10000 matches the default LVMAE__Storage__ConnectionString=UseDevelopmentStorage=true that other commands use)", DefaultValueFactory = _ => 10000 };
        var data = new Option<string>("--data") { Description = "Azurite data folder", DefaultValueFactory = _ => Path.Combine(Environment.CurrentDirectory, ".lvmae", "azurite") };
        var azuriteDb = new Option<string>("--azurite-db") { Description = "Where Azurite keeps blob metadata: files (its LokiJS file in --data) or mariadb (a private MariaDB server, data in <data>/mariadb: holds 100k+ videos)", DefaultValueFactory = _ => "files" };
        azuriteDb.AcceptOnlyFromAmong("files", "mariadb");
        var noAzurite = new Option<bool>("--no-azurite") { Description = "Use the configured storage (LVMAE__Storage__ConnectionString) instead of starting Azurite" };
        var jobs = new Option<int?>("--jobs") { Description = "Concurrent ffmpeg/encoder jobs in this silo" };
        var detach = new Option<bool>("--detach", "-d") { Description = "Run in the background (log in .lvmae/up.log); returns once the silo answers. `lvmae down` stops it" };
        var detachedLog = new Option<string?>("--detached-log") { Hidden = true }; // set by --detach for the background process
        var command = new Command(HostedCommands.Up.Name, HostedCommands.Up.Description)
        {
            blobPort, data, azuriteDb, noAzurite, jobs, detach, detachedLog,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            LvMaeSiloSettings settings;
            try { settings = HostCommands.SiloSettings(); }
            catch (LvMaeConfigurationException e) { CommandLine.Error(e.Message); return ExitCodes.Usage; }
            if (parse.GetValue(jobs) is { } j) settings.Processing.MaxConcurrentJobs = j;
            if (settings.Problems() is { Count: > 0 } problems) { CommandLine.Error(new LvMaeConfigurationException(problems).Message); return ExitCodes.Usage; }

            var state = UpState.InWorkingDirectory();
            if (state.ClearStale() is { } stale) Console.WriteLine(stale);
            if (state.Running() is { } running)
            {
                Console.WriteLine($"lvmae is already up here ({running.Describe()}). `lvmae down` stops it.");
                return parse.GetValue(detach) ? ExitCodes.Ok : ExitCodes.Failed;
            }
            if (SiloPorts.BusyMessage(settings) is { } busy)
            {
                CommandLine.Error(busy);
                return ExitCodes.Failed;
            }
            if (parse.GetValue(detach))
            {
                var forwarded = new List<string> { "--blob-port", parse.GetValue(blobPort).ToString(), "--data", Path.GetFullPath(parse.GetValue(data)!) };
                if (parse.GetValue(noAzurite)) forwarded.Add("--no-azurite");
                forwarded.AddRange(["--azurite-db", parse.GetValue(azuriteDb)!]);
                if (parse.GetValue(jobs) is { } n) forwarded.AddRange(["--jobs", n.ToString()]);
                return await DetachedUp.StartAsync(state, settings, forwarded, cancellationToken);
            }
            var azuriteAt = parse.GetValue(noAzurite) ? ((int, string, bool)?)null : (parse.GetValue(blobPort), parse.GetValue(data)!, parse.GetValue(azuriteDb) == "mariadb");
            return await RunAsync(state, settings, azuriteAt, parse.GetValue(detachedLog), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(UpState state, LvMaeSiloSettings settings, (int Port, string Data, bool MariaDb)? azuriteAt, string? log, CancellationToken cancellationToken)
    {
        using var self = Process.GetCurrentProcess();
        var record = new UpRecord
        {
            Pid = Environment.ProcessId, StartedAt = LocalProcess.StartTime(self), Log = log,
            SiloPort = settings.Clustering.SiloPort, GatewayPort = settings.Clustering.GatewayPort, BlobPort = azuriteAt?.Port,
        };
        if (!state.TryClaim(record, out var holder))
        {
            Console.WriteLine($"lvmae is already up here ({holder?.Describe() ?? "starting"}). `lvmae down` stops it.");
            return ExitCodes.Failed;
        }
        settings.Logging.MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning;
        settings.Logging.OrleansLevel = Microsoft.Extensions.Logging.LogLevel.Error;
        try
        {
            await using var azurite = azuriteAt is { } a ? await LocalAzurite.StartAsync(a.Port, a.Data, mariaDb: a.MariaDb) : null;
            if (azurite is not null) settings.Storage.ConnectionString = azurite.ConnectionString;
            await using var silo = await LvMaeSiloHost.StartAsync(settings, cancellationToken);
            var api = silo.ApiAddress;
            var dashboard = api is not null && settings.Api.Dashboard ? new Uri(api, settings.Api.DashboardPath) : null;
            state.Update(record with
            {
                State = UpRecord.Ready, Api = api?.ToString(), Dashboard = dashboard?.ToString(),
                AzuritePid = azurite?.ProcessId, AzuriteStartedAt = azurite?.ProcessId is { } pid ? StartTime(pid) : null,
                MariaDbPid = azurite?.MariaDb?.ProcessId, MariaDbStartedAt = azurite?.MariaDb?.ProcessId is { } dbPid ? StartTime(dbPid) : null,
            });

            var table = new ResultTable("what", "where");
            table.Row("storage", azurite is null ? SiloProcess.DescribeStorage(settings.Storage.ConnectionString) : $"Azurite on 127.0.0.1:{azurite.Port} (blobs), {azurite.TablePort} (tables), data in {azurite.DataDirectory}{(azurite.MariaDb is { } db ? $", blob metadata in MariaDB on 127.0.0.1:{db.Port}" : "")}{(azurite.Reused ? ", already running" : "")}");
            table.Row("gateway", $"127.0.0.1:{settings.Clustering.GatewayPort} ({settings.Clustering.Mode} clustering)");
            if (api is not null) table.Row("HTTP API", $"{api}corpus/summary, {api}videos?state=Failed");
            if (dashboard is not null) table.Row("dashboard", dashboard.ToString());
            table.Row("jobs per silo", settings.Processing.MaxConcurrentJobs.ToString());
            table.Write();
            AnsiConsole.MarkupLine(log is null
                ? "[green]lvmae is up[/]; in another shell: [bold]./lvmae ingest DIR --encoder builtin[/], [bold]./lvmae status[/]. Ctrl+C (or [bold]./lvmae down[/]) stops it."
                : "[green]lvmae is up[/] in the background; [bold]./lvmae down[/] stops it.");
            try { await Task.Delay(Timeout.Infinite, cancellationToken); }
            catch (OperationCanceledException) { }
            AnsiConsole.MarkupLine("stopping...");
            return ExitCodes.Ok;
        }
        catch (LvMaeConfigurationException e) { CommandLine.Error(e.Message); return ExitCodes.Usage; }
        catch (Exception e) when (e.InnerException is SocketException or IOException || e is IOException or TimeoutException or InvalidOperationException)
        {
            CommandLine.Error($"could not start: {e.Message} (ports: silo {settings.Clustering.SiloPort}, gateway {settings.Clustering.GatewayPort}, API {settings.Api.Port}, Azurite {azuriteAt?.Port.ToString() ?? "not started"})");
            return ExitCodes.Failed;
        }
        finally
        {
            state.Release(record.Pid);
        }
    }

    private static DateTimeOffset? StartTime(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return LocalProcess.StartTime(process);
        }
        catch (ArgumentException) { return null; }
    }
}
