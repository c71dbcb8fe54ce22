using System.CommandLine;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae down`: stops the `lvmae up` recorded in .lvmae/up.json (SIGTERM: the silo leaves the cluster and Azurite stops;
/// killed after --timeout, with its Azurite), or cleans up after an `up` that died.
/// </summary>
public sealed class DownCommand : ICliCommand
{
    public Command Build()
    {
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for a clean stop before killing it", DefaultValueFactory = _ => 30 };
        var command = new Command("down", "Stop what `lvmae up` (--detach or in another shell) started in this folder") { timeout };
        command.SetAction(async parse =>
        {
            var state = UpState.InWorkingDirectory();
            if (state.Read() is not { } record)
            {
                Console.WriteLine($"nothing is up here (no {state.FilePath}; `lvmae down` runs in the folder where `lvmae up` ran).");
                return ExitCodes.Ok;
            }
            if (state.ClearStale() is { } stale)
            {
                Console.WriteLine(stale);
                return ExitCodes.Ok;
            }

            var started = DateTime.UtcNow;
            LocalProcess.Terminate(record.Pid);
            var clean = await AnsiConsole.Status().StartAsync($"stopping lvmae up (pid {record.Pid})...",
                _ => LocalProcess.WaitForExitAsync(record.Pid, record.StartedAt, TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(timeout)))));
            if (!clean)
            {
                LocalProcess.Kill(record.Pid, record.StartedAt);
            }
            var leftover = state.ClearStale() is null ? "" : " (and its Azurite)";
            Console.WriteLine(clean
                ? $"stopped lvmae up (pid {record.Pid}) in {(DateTime.UtcNow - started).TotalSeconds:0.0} s."
                : $"lvmae up (pid {record.Pid}) did not stop within {parse.GetValue(timeout)} s: killed it{leftover}.");
            return ExitCodes.Ok;
        });
        return command;
    }
}
