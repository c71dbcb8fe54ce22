using System.Diagnostics;
using System.Text;

namespace LvMae.Storage;

/// <summary>
/// A private MariaDB server for Azurite's blob metadata (<c>AZURITE_DB=mysql://…</c>): Debian's <c>mariadbd</c>
/// (package mariadb-server-core, installed by infra/setup.sh) run as the current user, no system service. Its data folder
/// is initialised on first use (system tables, a database <see cref="Database"/> and a user for it, through
/// <c>mariadbd --bootstrap</c>); it listens on 127.0.0.1 only, on a free port, with its socket and pid file beside its
/// data. <see cref="DisposeAsync"/> stops it cleanly (SIGTERM); the data folder stays for the next start.
/// </summary>
public sealed class LocalMariaDb : IAsyncDisposable
{
    public const string Database = "azurite";
    public const string User = "azurite";
    /// <summary>Loopback only, a private data folder: the password keeps other local users' clients out, nothing more.</summary>
    public const string Password = "azurite-local";

    private readonly Process _process;
    private readonly StringBuilder _log;

    private LocalMariaDb(Process process, StringBuilder log, int port, string dataDirectory)
    {
        _process = process;
        _log = log;
        Port = port;
        DataDirectory = dataDirectory;
    }

    public int Port { get; }
    public string DataDirectory { get; }
    public int ProcessId => _process.Id;

    /// <summary>What Azurite's AZURITE_DB takes.</summary>
    public string AzuriteDbUri => $"mysql://{User}:{Password}@127.0.0.1:{Port}/{Database}";

    /// <summary>The server's own messages so far (start-up problems).</summary>
    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <summary>Finds mariadbd: $LVMAE_MARIADBD, then PATH, then /usr/sbin (Debian puts it there, outside a user's PATH).</summary>
    public static string FindServer()
    {
        var fromEnv = Environment.GetEnvironmentVariable("LVMAE_MARIADBD");
        if (!string.IsNullOrEmpty(fromEnv) && File.Exists(fromEnv)) return fromEnv;
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin").Append("/usr/local/sbin");
        foreach (var dir in path)
            foreach (var name in new[] { "mariadbd", "mysqld" })
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate)) return candidate;
            }
        throw new FileNotFoundException("mariadbd not found: run ./lvmae or ./test.sh (infra/setup.sh installs Debian's mariadb-server-core) or set LVMAE_MARIADBD");
    }

    /// <summary>The SQL that creates MariaDB's system tables (shipped with the server package).</summary>
    private static IEnumerable<string> SystemTableScripts()
    {
        foreach (var dir in new[] { "/usr/share/mysql", "/usr/share/mariadb" })
        {
            var tables = Path.Combine(dir, "mysql_system_tables.sql");
            var data = Path.Combine(dir, "mysql_system_tables_data.sql");
            if (File.Exists(tables) && File.Exists(data)) return [tables, data];
        }
        throw new FileNotFoundException("MariaDB's mysql_system_tables.sql not found in /usr/share/mysql: install mariadb-server-core (infra/setup.sh)");
    }

    /// <summary>Starts a server on <paramref name="dataDirectory"/> (initialised when empty) and a free loopback port, or <paramref name="port"/>.</summary>
    public static async Task<LocalMariaDb> StartAsync(string dataDirectory, int? port = null, TimeSpan? timeout = null)
    {
        var server = FindServer();
        dataDirectory = Path.GetFullPath(dataDirectory);
        var data = Path.Combine(dataDirectory, "data");
        if (!Directory.Exists(Path.Combine(data, "mysql"))) await InitialiseAsync(server, data);
        var listen = port ?? LoopbackPort.Free();
        var socket = Path.Combine(dataDirectory, "mysqld.sock");
        if (Encoding.UTF8.GetByteCount(socket) > 100) socket = Path.Combine(Path.GetTempPath(), $"lvmae-mariadb-{listen}.sock"); // sun_path holds 108 bytes
        var start = Server(server, data);
        foreach (var arg in new[]
                 {
                     "--bind-address=127.0.0.1", $"--port={listen}", $"--socket={socket}", $"--pid-file={Path.Combine(dataDirectory, "mysqld.pid")}",
                     "--skip-name-resolve", "--max-connections=200", "--innodb-buffer-pool-size=256M", "--innodb-flush-log-at-trx-commit=2",
                 })
            start.ArgumentList.Add(arg);
        var log = new StringBuilder();
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {server}");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var db = new LocalMariaDb(process, log, listen, dataDirectory);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!LoopbackPort.Listening(listen))
        {
            if (process.HasExited)
                throw new InvalidOperationException($"mariadbd exited at start-up with code {process.ExitCode}: {LastLines(db.Log)}");
            if (DateTime.UtcNow > deadline)
            {
                await db.DisposeAsync();
                throw new TimeoutException($"mariadbd did not listen on 127.0.0.1:{listen} within {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds} s: {LastLines(db.Log)}");
            }
            await Task.Delay(100);
        }
        return db;
    }

    /// <summary>The options every run shares: no my.cnf of the machine, this data folder, the current user (mariadbd refuses root without it).</summary>
    private static ProcessStartInfo Server(string server, string data)
    {
        var start = new ProcessStartInfo(server)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "--no-defaults", $"--datadir={data}", $"--user={Environment.UserName}", "--skip-log-bin", "--innodb-log-file-size=64M",
                     "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin",
                 })
            start.ArgumentList.Add(arg);
        return start;
    }

    /// <summary>What mariadb-install-db does (system tables), plus Azurite's database and user, through `mariadbd --bootstrap`.</summary>
    private static async Task InitialiseAsync(string server, string data)
    {
        var partial = data + ".init";
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true); // an initialisation that died half-way
        Directory.CreateDirectory(partial);
        var start = Server(server, partial);
        foreach (var arg in new[] { "--bootstrap", "--log-warnings=0", "--max_allowed_packet=8M", "--net_buffer_length=16K" }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {server} --bootstrap");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        // The bootstrap reader takes one statement per line (mariadb-install-db feeds it the same way).
        var sql = new StringBuilder()
            .AppendLine("create database if not exists mysql;").AppendLine("use mysql;").AppendLine("SET @auth_root_socket=NULL;");
        foreach (var script in SystemTableScripts()) sql.Append(await File.ReadAllTextAsync(script)).AppendLine();
        sql.AppendLine("FLUSH PRIVILEGES;") // loads the grant tables just created, so account statements work in bootstrap mode
            .AppendLine($"CREATE DATABASE IF NOT EXISTS {Database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;")
            .AppendLine($"CREATE USER IF NOT EXISTS '{User}'@'127.0.0.1' IDENTIFIED BY '{Password}';")
            .AppendLine($"GRANT ALL PRIVILEGES ON {Database}.* TO '{User}'@'127.0.0.1';");
        await process.StandardInput.WriteAsync(sql.ToString());
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"initialising MariaDB in {data} failed (mariadbd --bootstrap exit {process.ExitCode}): {LastLines(await errors + await output)}");
        if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        Directory.Move(partial, data);
    }

    private static string LastLines(string text) => string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(4));

    /// <summary>Stops the server the way its service would (SIGTERM: a clean shutdown), killing it after 30 s.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var signal = Process.Start("kill", ["-TERM", _process.Id.ToString()])) await signal!.WaitForExitAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try { await _process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); }
        }
        _process.Dispose();
    }
}
