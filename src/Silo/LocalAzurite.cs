using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LvMae.Silo;

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
    /// <summary>The Azurite process this instance started (null when it reused one): `lvmae down` stops it if its `up` died.</summary>
    public int? ProcessId => _process?.Id;

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
