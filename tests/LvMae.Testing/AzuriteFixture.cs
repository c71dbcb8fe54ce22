using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Azure.Storage.Blobs;
using Xunit;

namespace LvMae.Testing;

/// <summary>
/// A real Azurite (blobs and tables: grain state, data, reminders, membership) for a test collection: started on free
/// loopback ports with a fresh temp folder, stopped (and the folder deleted) when the collection ends. Fails loudly when
/// Azurite is not installed: ./test.sh installs it into infra/azurite. <see cref="StopAsync"/>/<see cref="StartAsync"/>
/// take storage away and bring it back on the same ports and data (outage tests).
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private Process? _process;
    private string? _dataDir;

    /// <summary>
    /// Keep every blob and table in memory (`--inMemoryPersistence`): Azurite then never rewrites its metadata file, which
    /// it otherwise does whole on every autosave (177 MB at 89k videos). For benchmarks that measure the silo, not the
    /// emulator; data does not survive <see cref="StopAsync"/>.
    /// </summary>
    public bool InMemory { get; init; }

    /// <summary>
    /// Keep blob metadata in a private MariaDB server (<see cref="LvMae.Storage.LocalMariaDb"/>, Azurite's AZURITE_DB) instead
    /// of LokiJS: the storage that holds 100k+ videos. Azurite then serves fewer operations (Append Block answers 501).
    /// <see cref="StopAsync"/>/<see cref="StartAsync"/> stop and start Azurite only; the server runs until the fixture ends.
    /// </summary>
    public bool MariaDb { get; init; }

    /// <summary>The MariaDB server of a <see cref="MariaDb"/> fixture (its process id: benchmarks read its CPU time).</summary>
    public LvMae.Storage.LocalMariaDb? Database { get; private set; }

    public int Port { get; private set; }
    /// <summary>The emulator's process id while it runs (benchmarks read its CPU time).</summary>
    public int? ProcessId => _process is { HasExited: false } process ? process.Id : null;
    public int TablePort { get; private set; }
    private int _queuePort;

    /// <summary>Explicit development-storage connection string for this instance (blob and table endpoints).</summary>
    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{TablePort}/devstoreaccount1;";

    public BlobServiceClient ServiceClient() => new(ConnectionString);

    /// <summary>A new, empty container with a unique name, so tests never see each other's blobs.</summary>
    public async Task<BlobContainerClient> NewContainerAsync(string prefix = "test")
    {
        var container = ServiceClient().GetBlobContainerClient($"{prefix}-{Guid.NewGuid():N}"[..Math.Min(63, prefix.Length + 33)]);
        await container.CreateIfNotExistsAsync();
        return container;
    }

    public async Task InitializeAsync()
    {
        _dataDir = Directory.CreateTempSubdirectory("lvmae-azurite-").FullName;
        var ports = ExternalSilo.FreePorts(3);
        (Port, TablePort, _queuePort) = (ports[0], ports[1], ports[2]);
        if (MariaDb) Database = await LvMae.Storage.LocalMariaDb.StartAsync(Path.Combine(_dataDir, "mariadb"));
        // Over MariaDB, Azurite sometimes exits at start-up on a loaded machine (its first SQL connection times out), as
        // `lvmae up --azurite-db mariadb` sees too: two more tries before the fixture gives up, with Azurite's own last lines.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StartAsync();
                return;
            }
            catch (AzuriteExitedException) when (Database is not null && attempt < 3) { await Task.Delay(TimeSpan.FromSeconds(2)); }
            catch when (Database is not null)
            {
                // Not started: Azurite and the MariaDB server started for it go (a caller whose start failed never disposes).
                if (_process is { HasExited: false }) { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); }
                await Database.DisposeAsync();
                Database = null;
                throw;
            }
        }
    }

    /// <summary>Azurite ended before it answered (its last lines in the message).</summary>
    public sealed class AzuriteExitedException(string message) : InvalidOperationException(message);

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lastLines = new();

    private void KeepLine(string? line)
    {
        if (line is null) return;
        _lastLines.Enqueue(line);
        while (_lastLines.Count > 20) _lastLines.TryDequeue(out _);
    }

    /// <summary>Starts Azurite (again) on this fixture's ports and data folder.</summary>
    public async Task StartAsync()
    {
        if (_process is { HasExited: false }) return;
        _process?.Dispose();
        var executable = AzuriteLocator.Find();
        var start = new ProcessStartInfo(executable)
        {
            ArgumentList =
            {
                "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--tableHost", "127.0.0.1", "--tablePort", TablePort.ToString(),
                "--queueHost", "127.0.0.1", "--queuePort", _queuePort.ToString(),
                "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var option in InMemory ? ["--inMemoryPersistence"] : new[] { "--location", _dataDir! }) start.ArgumentList.Add(option);   // Azurite refuses both
        // In memory, every blob's metadata lives in node's heap: a 100k-video corpus outgrows node's default limit (~2 GB).
        if (InMemory) start.Environment["NODE_OPTIONS"] = "--max-old-space-size=8192";
        if (Database is not null) start.Environment["AZURITE_DB"] = Database.AzuriteDbUri;
        _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        _process.OutputDataReceived += (_, e) => KeepLine(e.Data);
        _process.ErrorDataReceived += (_, e) => KeepLine(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await WaitUntilListeningAsync(TimeSpan.FromSeconds(120));   // node takes long to start on a loaded 2-core machine (30 s failed a CI run at load 30)
    }

    /// <summary>
    /// Stops Azurite the way an operator would (SIGINT: it closes its listeners and persists what it acknowledged), so storage
    /// refuses connections until <see cref="StartAsync"/> brings it back with its data. A SIGKILL would also lose writes
    /// Azurite had acknowledged (its metadata is saved every few seconds): no real storage account does that.
    /// </summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process) return;
        using (var signal = Process.Start("kill", ["-INT", process.Id.ToString()])) await signal!.WaitForExitAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); process.WaitForExit(5000); }
    }

    /// <summary>
    /// Crashes Azurite (SIGKILL, no chance to persist): it loses what it had acknowledged since its last metadata save (every
    /// few seconds), as a storage node that crashes and comes back from its last durable state. <see cref="StartAsync"/>
    /// brings it back on the same ports and data folder.
    /// </summary>
    public void Crash()
    {
        if (_process is not { HasExited: false } process) return;
        process.Kill(entireProcessTree: true); // SIGKILL on Linux
        process.WaitForExit(10_000);
    }

    /// <summary>Freezes Azurite (SIGSTOP): connections hang instead of being refused, as when storage is unreachable over the network.</summary>
    public void Pause() => Signal("-STOP");

    /// <summary>Thaws a <see cref="Pause"/>d Azurite (SIGCONT).</summary>
    public void Resume() => Signal("-CONT");

    private void Signal(string signal)
    {
        if (_process is not { HasExited: false } process) return;
        using var kill = Process.Start("kill", [signal, process.Id.ToString()]);
        kill!.WaitForExit();
    }

    private async Task WaitUntilListeningAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process!.HasExited)
            {
                _process.WaitForExit(); // its output read to the end
                throw new AzuriteExitedException($"Azurite exited at start-up with code {_process.ExitCode}: {string.Join(" | ", _lastLines.TakeLast(8))}");
            }
            try
            {
                await ServiceClient().GetPropertiesAsync();
                await new Azure.Data.Tables.TableServiceClient(ConnectionString).GetPropertiesAsync();
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
        throw new TimeoutException($"Azurite did not answer on port {Port} within {timeout.TotalSeconds} s");
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_process is { HasExited: false }) { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); }
            if (Database is not null) await Database.DisposeAsync();
        }
        finally
        {
            _process?.Dispose();
            if (_dataDir is not null) try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>Finds azurite (blob + queue + table): $LVMAE_AZURITE_BIN, else infra/azurite/node_modules/.bin above the test binaries.</summary>
public static class AzuriteLocator
{
    public static string Find()
    {
        var fromEnv = Environment.GetEnvironmentVariable("LVMAE_AZURITE_BIN");
        if (!string.IsNullOrEmpty(fromEnv) && File.Exists(fromEnv))
        {
            // An older setup pointed at azurite-blob; blobs alone are not enough now (reminders and membership are tables).
            var all = Path.Combine(Path.GetDirectoryName(fromEnv)!, "azurite");
            return Path.GetFileName(fromEnv) == "azurite-blob" && File.Exists(all) ? all : fromEnv;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "infra", "azurite", "node_modules", ".bin", "azurite");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException(
            "azurite not found: run ./test.sh (it runs `npm ci` in infra/azurite) or set LVMAE_AZURITE_BIN.");
    }
}
