using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace LvMae.Cli;

/// <summary>What a running `lvmae up` records in .lvmae/up.json: its process, Azurite's, its ports and log.</summary>
public sealed record UpRecord
{
    public const string Starting = "starting", Ready = "ready";

    public required int Pid { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public string State { get; init; } = Starting;
    public int? AzuritePid { get; init; }
    public DateTimeOffset? AzuriteStartedAt { get; init; }
    /// <summary>The MariaDB server holding Azurite's blob metadata (`up --azurite-db mariadb`).</summary>
    public int? MariaDbPid { get; init; }
    public DateTimeOffset? MariaDbStartedAt { get; init; }
    public int? BlobPort { get; init; }
    public int SiloPort { get; init; }
    public int GatewayPort { get; init; }
    public string? Api { get; init; }
    public string? Dashboard { get; init; }
    /// <summary>The log file of a detached `up`; null in the foreground.</summary>
    public string? Log { get; init; }

    public string Describe() =>
        $"pid {Pid}, since {StartedAt.ToLocalTime():yyyy-MM-dd HH:mm:ss}: gateway 127.0.0.1:{GatewayPort}" +
        (Api is null ? "" : $", API {Api}") + (BlobPort is null ? "" : $", Azurite 127.0.0.1:{BlobPort}") + (Log is null ? " (in the foreground of another shell)" : $", log {Log}");
}

/// <summary>
/// .lvmae/up.json in the working folder: claimed atomically by the `up` that starts (so two cannot run at once), updated
/// when it is ready, removed when it stops. A record whose process is gone is stale and ignored.
/// </summary>
public sealed class UpState(string directory)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public string Directory { get; } = Path.GetFullPath(directory);
    public string FilePath => Path.Combine(Directory, "up.json");
    public string LogPath => Path.Combine(Directory, "up.log");

    public static UpState InWorkingDirectory() => new(Path.Combine(Environment.CurrentDirectory, ".lvmae"));

    /// <summary>The record, whether or not its process still runs; null when there is none (or it is unreadable).</summary>
    public UpRecord? Read()
    {
        try { return JsonSerializer.Deserialize<UpRecord>(File.ReadAllText(FilePath), Json); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException) { return null; }
    }

    /// <summary>The record of an `up` that is running now.</summary>
    public UpRecord? Running() => Read() is { } record && LocalProcess.IsRunning(record.Pid, record.StartedAt) ? record : null;

    /// <summary>Creates the record unless a running `up` holds it (returned in <paramref name="holder"/>); replaces a stale one.</summary>
    public bool TryClaim(UpRecord record, out UpRecord? holder)
    {
        System.IO.Directory.CreateDirectory(Directory);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                using (var file = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write))
                    JsonSerializer.Serialize(file, record, Json);
                holder = null;
                return true;
            }
            catch (IOException) when (File.Exists(FilePath))
            {
                holder = Running();
                if (holder is not null) return false;
                File.Delete(FilePath); // stale: its process is gone
            }
        }
        holder = Running();
        return false;
    }

    /// <summary>Replaces the record (write then rename, so a reader never sees half of it).</summary>
    public void Update(UpRecord record)
    {
        var temporary = FilePath + $".{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(record, Json));
        File.Move(temporary, FilePath, overwrite: true);
    }

    /// <summary>Removes the record if it is <paramref name="pid"/>'s.</summary>
    public void Release(int pid)
    {
        if (Read() is { } record && record.Pid == pid) Delete();
    }

    public void Delete()
    {
        try { File.Delete(FilePath); } catch (IOException) { }
    }

    /// <summary>
    /// Removes the record of an `up` that is not running any more and stops the Azurite it left behind (Azurite is a
    /// child of `up`, stopped with it; only an `up` that was killed leaves it running). Says what it did; null when
    /// there was nothing stale.
    /// </summary>
    public string? ClearStale()
    {
        if (Read() is not { } record || LocalProcess.IsRunning(record.Pid, record.StartedAt)) return null;
        var azurite = "";
        if (record is { AzuritePid: { } pid, AzuriteStartedAt: { } started } && LocalProcess.IsRunning(pid, started))
        {
            LocalProcess.Kill(pid, started);
            azurite = $" and stopped the Azurite it had left running (pid {pid})";
        }
        if (record is { MariaDbPid: { } dbPid, MariaDbStartedAt: { } dbStarted } && LocalProcess.IsRunning(dbPid, dbStarted))
        {
            LocalProcess.Kill(dbPid, dbStarted);
            azurite += $" and the MariaDB server of its Azurite (pid {dbPid})";
        }
        Delete();
        return $"lvmae up (pid {record.Pid}) was not running any more (it crashed or was killed{(record.Log is null ? "" : $"; log {record.Log}")}); removed its record{azurite}.";
    }
}

/// <summary>Processes of this machine by pid: alive (not a zombie, same start time, so a reused pid is not mistaken), signals.</summary>
public static class LocalProcess
{
    private const int SigTerm = 15;

    public static DateTimeOffset StartTime(Process process) => new(process.StartTime.ToUniversalTime(), TimeSpan.Zero);

    public static bool IsRunning(int pid, DateTimeOffset startedAt)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited || IsZombie(pid)) return false;
            return (StartTime(process) - startedAt).Duration() < TimeSpan.FromSeconds(2);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { return false; }
    }

    /// <summary>Asks the process to stop (SIGTERM; Linux, like the rest of `up`/`down`).</summary>
    public static void Terminate(int pid) => kill(pid, SigTerm);

    /// <summary>Kills the process and its children (SIGKILL) and waits until it is gone (at most 10 s).</summary>
    public static void Kill(int pid, DateTimeOffset startedAt)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (IsRunning(pid, startedAt) && DateTime.UtcNow < deadline) Thread.Sleep(50);
    }

    /// <summary>Waits until the process is gone; false when it still runs after <paramref name="timeout"/>.</summary>
    public static async Task<bool> WaitForExitAsync(int pid, DateTimeOffset startedAt, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsRunning(pid, startedAt))
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(100);
        }
        return true;
    }

    // A process that exited but was not reaped yet (its parent is gone and nobody waits for it) still answers to its pid.
    private static bool IsZombie(int pid)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..];
            return state.StartsWith('Z') || state.StartsWith('X');
        }
        catch (IOException) { return true; }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
