using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LvMae.Testing;

/// <summary>
/// One LvMae silo as its own operating-system process (`dotnet LvMae.Silo.dll`, the program a cluster machine runs),
/// configured through LVMAE__ environment variables, bound to 127.0.0.1 only. Output goes to a log file. For cluster and
/// fault tests: <see cref="Kill"/> is SIGKILL (no goodbye to the cluster), <see cref="StopAsync"/> a clean SIGTERM.
/// </summary>
public sealed class ExternalSilo : IAsyncDisposable
{
    private readonly Process _process;

    private ExternalSilo(Process process, string name, int siloPort, int gatewayPort, int apiPort, string log)
    {
        (_process, Name, SiloPort, GatewayPort, ApiPort, LogPath) = (process, name, siloPort, gatewayPort, apiPort, log);
    }

    public string Name { get; }
    public int SiloPort { get; }
    public int GatewayPort { get; }
    public int ApiPort { get; }
    public string LogPath { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public Uri Api => new($"http://127.0.0.1:{ApiPort}/");

    /// <summary>The silo program beside the test binaries (a project reference to src/Silo puts it there).</summary>
    public static string Program => Path.Combine(AppContext.BaseDirectory, "LvMae.Silo.dll");

    /// <summary>Settings of a silo of cluster <paramref name="cluster"/> (also its container) on Azure Table membership in the storage
    /// account of <paramref name="connectionString"/>, logging warnings and worse.</summary>
    public static Dictionary<string, string> TableClusterSettings(string connectionString, string cluster) => new()
    {
        ["Storage__ConnectionString"] = connectionString,
        ["Storage__Container"] = cluster,
        ["Clustering__Mode"] = "AzureTable",
        ["Clustering__ClusterId"] = cluster,
        ["Clustering__ServiceId"] = cluster,
        ["Logging__MinimumLevel"] = "Warning",
    };

    /// <summary>Starts a silo with <paramref name="settings"/> (LVMAE__ keys, e.g. "Clustering__Mode" = "AzureTable") and waits until its API answers.</summary>
    public static async Task<ExternalSilo> StartAsync(string name, IReadOnlyDictionary<string, string> settings, string logDirectory, TimeSpan? timeout = null)
    {
        var ports = FreePorts(3);
        var (siloPort, gatewayPort, apiPort) = (ports[0], ports[1], ports[2]);
        var log = Path.Combine(logDirectory, $"{name}.log");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Program },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = logDirectory,
        };
        var env = new Dictionary<string, string>
        {
            ["Clustering__SiloPort"] = siloPort.ToString(),
            ["Clustering__GatewayPort"] = gatewayPort.ToString(),
            ["Clustering__AdvertisedIPAddress"] = "127.0.0.1",
            ["Api__Host"] = "127.0.0.1",
            ["Api__Port"] = apiPort.ToString(),
            ["Api__Dashboard"] = "false",
        };
        foreach (var (k, v) in settings) env[k] = v;
        foreach (var (k, v) in env) start.Environment[$"LVMAE__{k}"] = v;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Program}");
        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        var closed = false; // Exited can come before the last output lines: those are dropped, not written to a closed log (which crashed the test host)
        var started = false;   // the silo's "lvmae silo running" line: Orleans has started, not only its HTTP API (/health answers earlier)
        void Write(string? line)
        {
            if (line is null) return;
            if (line.StartsWith("lvmae silo running", StringComparison.Ordinal)) Volatile.Write(ref started, true);
            lock (writer) if (!closed) writer.WriteLine(line);
        }
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.Exited += (_, _) => { lock (writer) { closed = true; writer.Dispose(); } };
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var silo = new ExternalSilo(process, name, siloPort, gatewayPort, apiPort, log);
        using var http = new HttpClient { BaseAddress = silo.Api, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"silo {name} exited with code {process.ExitCode} at start-up: {Tail(log)}");
            try
            {
                if (Volatile.Read(ref started) && (await http.GetAsync("health")).IsSuccessStatusCode) return silo;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            if (DateTime.UtcNow > deadline)
            {
                silo.Kill();
                throw new TimeoutException($"silo {name} did not answer on {silo.Api} in time: {Tail(log)}");
            }
            await Task.Delay(250);
        }
    }

    /// <summary>SIGKILL: the process vanishes without leaving the cluster (what a crash or an OOM kill does).</summary>
    public void Kill()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    /// <summary>SIGTERM and wait (a clean shutdown: the silo leaves the cluster and hands its grains over).</summary>
    public async Task StopAsync(TimeSpan? timeout = null)
    {
        if (_process.HasExited) return;
        using var term = Process.Start("kill", ["-TERM", _process.Id.ToString()]);
        await term!.WaitForExitAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { Kill(); }
    }

    public static string Tail(string log, int lines = 30)
    {
        try { return string.Join("\n", File.ReadLines(log).TakeLast(lines)); }
        catch (IOException) { return "(no log)"; }
    }

    /// <summary>
    /// <paramref name="count"/> free loopback ports, none handed out before by this process: ports chosen one after the
    /// other (a silo port, then its gateway port) can otherwise come back equal once the first listener is closed.
    /// </summary>
    public static int[] FreePorts(int count)
    {
        var ports = new List<int>(count);
        lock (HandedOut)
            while (ports.Count < count)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (HandedOut.Add(port)) ports.Add(port);
            }
        return [.. ports];
    }

    public static int FreePort() => FreePorts(1)[0];

    private static readonly HashSet<int> HandedOut = [];

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(15));
        _process.Dispose();
    }
}
