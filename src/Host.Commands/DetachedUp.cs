using System.Diagnostics;
using LvMae.Client;
using LvMae.Silo;
using Spectre.Console;

namespace LvMae.Cli.Hosted;

/// <summary>
/// `lvmae up --detach`: starts `lvmae up` as a background process of its own session (it outlives this shell), its
/// output in .lvmae/up.log, and returns once that process has recorded itself ready and its silo answers a client.
/// </summary>
public static class DetachedUp
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    public static async Task<int> StartAsync(UpState state, LvMaeSiloSettings settings, IReadOnlyList<string> upArguments, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(state.Directory);
        var log = state.LogPath;
        using var child = Process.Start(BackgroundStart(log, [.. HostInvocation(), "up", .. upArguments, "--detached-log", log]))
            ?? throw new InvalidOperationException("could not start the background `lvmae up`");

        var deadline = DateTime.UtcNow + StartTimeout;
        UpRecord? ready = null;
        await AnsiConsole.Status().StartAsync($"starting Azurite and a silo in the background (pid {child.Id}, log {log})...", async _ =>
        {
            while (!child.HasExited && DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
            {
                if (state.Read() is { Pid: var pid, State: UpRecord.Ready } record && pid == child.Id) { ready = record; return; }
                await Task.Delay(200, CancellationToken.None);
            }
        });
        if (ready is null)
        {
            var why = child.HasExited ? $"the background `lvmae up` exited with code {child.ExitCode} before it was up"
                : cancellationToken.IsCancellationRequested ? "cancelled" : $"the background `lvmae up` was not up after {StartTimeout.TotalMinutes:0} minutes";
            if (!child.HasExited) { child.Kill(entireProcessTree: true); await child.WaitForExitAsync(CancellationToken.None); }
            state.Release(child.Id);
            CommandLine.Error($"{why}; log {log}:\n{Tail(log, 15)}");
            return ExitCodes.Failed;
        }

        try
        {
            // Ready means started; answering means a client connects through the gateway and a grain call returns.
            await using var client = await LvMaeClient.ConnectAsync(settings.Clustering, settings.Tls, TimeSpan.FromSeconds(30), cancellationToken);
            await client.Cluster.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        }
        catch (SiloUnreachableException e)
        {
            CommandLine.Error($"the background `lvmae up` (pid {child.Id}) started but its silo does not answer: {e.Message}; `lvmae down` stops it; log {log}");
            return ExitCodes.Failed;
        }

        var table = new Table().AddColumn("what").AddColumn("where");
        table.AddRow("process", $"pid {ready.Pid} (background; state in {Markup.Escape(state.FilePath)})");
        table.AddRow("log", Markup.Escape(log));
        if (ready.BlobPort is { } blob) table.AddRow("blob storage", $"Azurite on 127.0.0.1:{blob}");
        table.AddRow("gateway", $"127.0.0.1:{ready.GatewayPort}");
        if (ready.Api is not null) table.AddRow("HTTP API", Markup.Escape(ready.Api));
        if (ready.Dashboard is not null) table.AddRow("dashboard", Markup.Escape(ready.Dashboard));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[green]lvmae is up[/] in the background: [bold]./lvmae ingest DIR --encoder builtin[/], [bold]./lvmae status[/]; [bold]./lvmae down[/] stops it.");
        return ExitCodes.Ok;
    }

    /// <summary>How to start lvmae-host (the program that runs this library) again: the one HostProcess finds
    /// ($LVMAE_HOST, beside the running program, ../host), else the lvmae-host.dll beside this library.</summary>
    private static string[] HostInvocation()
    {
        var host = HostProcess.Candidates().FirstOrDefault(File.Exists)
                   ?? Path.Combine(Path.GetDirectoryName(typeof(DetachedUp).Assembly.Location)!, HostProcess.AssemblyFile);
        var start = DotnetProcess.StartInfo(host, []);
        return [start.FileName, .. start.ArgumentList];
    }

    // sh redirects the output to the log and execs setsid, which puts the process in a session of its own (no terminal:
    // closing this shell does not hang it up) and execs it, so the pid stays the one returned here.
    private static ProcessStartInfo BackgroundStart(string log, IEnumerable<string> command)
    {
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = Environment.CurrentDirectory };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("log=\"$1\"; shift; exec >\"$log\" 2>&1 </dev/null; if command -v setsid >/dev/null; then exec setsid \"$@\"; else exec \"$@\"; fi");
        start.ArgumentList.Add("lvmae-up");
        start.ArgumentList.Add(log);
        foreach (var argument in command) start.ArgumentList.Add(argument);
        return start;
    }

    private static string Tail(string path, int lines)
    {
        try { return string.Join(Environment.NewLine, File.ReadLines(path).TakeLast(lines).Select(l => "  " + l)); }
        catch (IOException) { return "  (no log)"; }
    }
}
