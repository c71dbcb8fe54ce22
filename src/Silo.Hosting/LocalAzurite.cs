using System.Diagnostics;
using LvMae.Storage;

namespace LvMae.Silo;

/// <summary>
/// Azurite for `up`/`demo`, serving blobs (grain state, data) and tables (reminders, membership): the binary from
/// $LVMAE_AZURITE_BIN (set by ./lvmae) or infra/azurite; reused when something already answers on both ports.
/// With <c>mariaDb</c> its blob metadata lives in a private MariaDB server (<see cref="LocalMariaDb"/>, data in
/// &lt;data&gt;/mariadb; Azurite's AZURITE_DB) instead of its LokiJS file, which it rewrites whole on every autosave: what
/// holds a corpus of 100k+ videos. Azurite's tables (reminders, membership) stay in its files either way.
/// </summary>
public sealed class LocalAzurite : IAsyncDisposable
{
    private readonly Process? _process;
    private readonly LocalMariaDb? _mariaDb;

    private LocalAzurite(Process? process, int port, int tablePort, string dataDirectory, bool reused, LocalMariaDb? mariaDb = null)
    {
        _process = process;
        _mariaDb = mariaDb;
        Port = port;
        TablePort = tablePort;
        DataDirectory = dataDirectory;
        Reused = reused;
    }

    /// <summary>The blob port.</summary>
    public int Port { get; }
    public int TablePort { get; }
    public string DataDirectory { get; }
    public bool Reused { get; }
    /// <summary>The Azurite process this instance started (null when it reused one): `lvmae down` stops it if its `up` died.</summary>
    public int? ProcessId => _process?.Id;
    /// <summary>The MariaDB server holding the blob metadata, when this instance started one.</summary>
    public LocalMariaDb? MariaDb => _mariaDb;

    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{TablePort}/devstoreaccount1;";

    /// <summary>Starts Azurite (blob on <paramref name="port"/>, table on <paramref name="tablePort"/>, default port + 2 as
    /// Azure's development defaults 10000/10002), or reuses one already answering on both.</summary>
    public static async Task<LocalAzurite> StartAsync(int port, string dataDirectory, int? tablePort = null, int? queuePort = null, bool mariaDb = false)
    {
        var table = tablePort ?? port + 2;
        if (LoopbackPort.Listening(port) && LoopbackPort.Listening(table)) return new LocalAzurite(null, port, table, dataDirectory, reused: true);
        if (LoopbackPort.Listening(port))
            throw new InvalidOperationException($"something answers on blob port {port} but not on table port {table}: an Azurite started without tables (an older `lvmae up`?) — stop it first");
        var binary = Find();
        Directory.CreateDirectory(dataDirectory);
        var db = mariaDb ? await LocalMariaDb.StartAsync(Path.Combine(dataDirectory, "mariadb")) : null;
        // Over MariaDB, Azurite exits when its first connection fails (a server that listens but is still starting, on a
        // loaded machine): try again a few times before giving up. Its own words go into the error.
        for (var attempt = 1; ; attempt++)
        {
            (Process? Process, int? ExitCode, string Output) started;
            try { started = await StartProcessAsync(binary, port, table, queuePort ?? port + 1, dataDirectory, db); }
            catch { if (db is not null) await db.DisposeAsync(); throw; }
            var (process, exitCode, output) = started;
            if (process is not null) return new LocalAzurite(process, port, table, dataDirectory, reused: false, db);
            if (exitCode is not null && db is not null && attempt < 3)
            {
                await Task.Delay(TimeSpan.FromSeconds(2 * attempt));
                continue;
            }
            if (db is not null) await db.DisposeAsync();
            var said = string.IsNullOrWhiteSpace(output) ? "" : $": {output.Trim()}";
            throw exitCode is { } c ? new InvalidOperationException($"Azurite exited with code {c}{said}") : new TimeoutException($"Azurite did not listen on {port}{said}");
        }
    }

    /// <summary>One start of Azurite: the process once it listens on both ports, or its exit code (null: it did not listen
    /// within 30 s and was killed) and its last output lines.</summary>
    private static async Task<(Process? Process, int? ExitCode, string Output)> StartProcessAsync(string binary, int port, int table, int queue, string dataDirectory, LocalMariaDb? db)
    {
        var start = new ProcessStartInfo(binary)
        {
            ArgumentList =
            {
                "--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--tableHost", "127.0.0.1", "--tablePort", table.ToString(),
                "--queueHost", "127.0.0.1", "--queuePort", queue.ToString(),
                "--location", dataDirectory, "--skipApiVersionCheck", "--disableTelemetry", "--silent",
            },
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (db is not null) start.Environment["AZURITE_DB"] = db.AzuriteDbUri;
        var lines = new Queue<string>();
        void Keep(string? line)
        {
            if (line is null) return;
            lock (lines) { lines.Enqueue(line); while (lines.Count > 10) lines.Dequeue(); }
        }
        string Said() { lock (lines) return string.Join(" | ", lines); }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {binary}");
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!LoopbackPort.Listening(port) || !LoopbackPort.Listening(table))
        {
            if (process.HasExited)
            {
                process.WaitForExit(); // the output readers drain
                return (null, process.ExitCode, Said());
            }
            if (DateTime.UtcNow > deadline)
            {
                process.Kill(true);
                return (null, null, Said());
            }
            await Task.Delay(100);
        }
        return (process, null, "");
    }

    private static string Find()
    {
        var fromEnv = Environment.GetEnvironmentVariable("LVMAE_AZURITE_BIN");
        if (!string.IsNullOrEmpty(fromEnv) && File.Exists(fromEnv))
        {
            // An older setup pointed at azurite-blob; blobs alone are not enough now (reminders and membership are tables).
            var all = Path.Combine(Path.GetDirectoryName(fromEnv)!, "azurite");
            return Path.GetFileName(fromEnv) == "azurite-blob" && File.Exists(all) ? all : fromEnv;
        }
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "infra", "azurite", "node_modules", ".bin", "azurite");
                if (File.Exists(candidate)) return candidate;
            }
        throw new FileNotFoundException("azurite not found: run ./lvmae (it installs Azurite into infra/azurite) or set LVMAE_AZURITE_BIN, or use --no-azurite");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        _process?.Dispose();
        if (_mariaDb is not null) await _mariaDb.DisposeAsync(); // after Azurite, its only client
    }
}
