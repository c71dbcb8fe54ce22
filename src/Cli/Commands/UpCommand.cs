using System.CommandLine;
using System.Diagnostics;
using System.Net;
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
                var table = new Table().AddColumn("what").AddColumn("where");
                table.AddRow("blob storage", Markup.Escape(azurite is null ? "configured connection string" : $"Azurite on 127.0.0.1:{azurite.Port} ({azurite.DataDirectory}){(azurite.Reused ? ", already running" : "")}"));
                table.AddRow("gateway", $"127.0.0.1:{settings.Clustering.GatewayPort} ({settings.Clustering.Mode} clustering)");
                if (silo.ApiAddress is { } api)
                {
                    table.AddRow("HTTP API", Markup.Escape($"{api}corpus/summary, {api}videos?state=Failed"));
                    if (settings.Api.Dashboard) table.AddRow("dashboard", Markup.Escape(new Uri(api, settings.Api.DashboardPath).ToString()));
                }
                table.AddRow("jobs per silo", settings.Processing.MaxConcurrentJobs.ToString());
                AnsiConsole.Write(table);
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

/// <summary>
/// Azurite for `up`/`demo`: the binary from $LVMAE_AZURITE_BIN (set by ./lvmae) or infra/azurite; reused when something
/// already answers on the port.
/// </summary>
public sealed class LocalAzurite : IAsyncDisposable
{
    private readonly Process? _process;

    private LocalAzurite(Process? process, int port, string dataDirectory, bool reused)
    {
        _process = process;
        Port = port;
        DataDirectory = dataDirectory;
        Reused = reused;
    }

    public int Port { get; }
    public string DataDirectory { get; }
    public bool Reused { get; }

    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;";

    public static async Task<LocalAzurite> StartAsync(int port, string dataDirectory)
    {
        if (Listening(port)) return new LocalAzurite(null, port, dataDirectory, reused: true);
        var binary = Find();
        Directory.CreateDirectory(dataDirectory);
        var start = new ProcessStartInfo(binary)
        {
            ArgumentList = { "--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--location", dataDirectory, "--skipApiVersionCheck", "--disableTelemetry", "--silent" },
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {binary}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Listening(port))
        {
            if (process.HasExited) throw new InvalidOperationException($"Azurite exited with code {process.ExitCode}");
            if (DateTime.UtcNow > deadline) { process.Kill(true); throw new TimeoutException($"Azurite did not listen on {port}"); }
            await Task.Delay(100);
        }
        return new LocalAzurite(process, port, dataDirectory, reused: false);
    }

    private static string Find()
    {
        var fromEnv = Environment.GetEnvironmentVariable("LVMAE_AZURITE_BIN");
        if (!string.IsNullOrEmpty(fromEnv) && File.Exists(fromEnv)) return fromEnv;
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "infra", "azurite", "node_modules", ".bin", "azurite-blob");
                if (File.Exists(candidate)) return candidate;
            }
        throw new FileNotFoundException("azurite-blob not found: run ./lvmae (it installs Azurite into infra/azurite) or set LVMAE_AZURITE_BIN, or use --no-azurite");
    }

    private static bool Listening(int port)
    {
        try
        {
            using var tcp = new TcpClient();
            tcp.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException) { return false; }
    }

    public ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        _process?.Dispose();
        return ValueTask.CompletedTask;
    }
}
