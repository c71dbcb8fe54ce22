using System.Diagnostics;
using System.Runtime.InteropServices;

namespace LvMae.Cli;

/// <summary>
/// lvmae-host, the executable of the hosted commands (<see cref="HostedCommands"/>), started with the arguments `lvmae` was
/// given: it shares this terminal (stdin, stdout, stderr), its exit code is lvmae's, and a SIGTERM sent to lvmae is passed on
/// (Ctrl+C reaches it directly: the terminal signals the whole foreground process group).
/// </summary>
public static class HostProcess
{
    /// <summary>Environment variable naming lvmae-host.dll; when it is set, only that file is used.</summary>
    public const string PathVariable = "LVMAE_HOST";

    public const string AssemblyFile = "lvmae-host.dll";

    /// <summary>Where lvmae-host.dll is looked for, in order: $LVMAE_HOST alone when set; else beside lvmae.dll (tests, a publish of both), then ../host (./lvmae's .artifacts/cli + .artifacts/host).</summary>
    public static IReadOnlyList<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } configured) return [Path.GetFullPath(configured)];
        return [Path.Combine(AppContext.BaseDirectory, AssemblyFile), Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "host", AssemblyFile))];
    }

    /// <summary>Runs lvmae-host with <paramref name="args"/> until it exits; its exit code, or <see cref="ExitCodes.Failed"/> after an error line when it is not there.</summary>
    public static async Task<int> RunAsync(string command, IReadOnlyList<string> args)
    {
        var candidates = Candidates();
        if (candidates.FirstOrDefault(File.Exists) is not { } host)
        {
            CommandLine.Error($"`lvmae {command}` runs in lvmae-host (it links TorchSharp, ffmpeg and the silo; `lvmae` itself does not), which is not installed: " +
                      $"looked for {string.Join(", ", candidates)}. ./lvmae builds it; or build src/Host into a folder named 'host' beside lvmae's " +
                      $"(dotnet build src/Host -c Release -o <lvmae's folder>/../host), or set {PathVariable} to its lvmae-host.dll.");
            return ExitCodes.Failed;
        }

        using var process = Process.Start(DotnetProcess.StartInfo(host, args)) ?? throw new InvalidOperationException($"could not start {host}");
        // Until lvmae-host exits, this process stays: Ctrl+C (SIGINT) is left to lvmae-host, which got it too; SIGTERM is passed on.
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, signal => signal.Cancel = true);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
        {
            signal.Cancel = true;
            if (!process.HasExited) LocalProcess.Terminate(process.Id);
        });
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}

/// <summary>Starting a .NET program (an assembly with a Main) as a process of its own.</summary>
public static class DotnetProcess
{
    /// <summary>
    /// `dotnet ASSEMBLY ARGS` with the dotnet that runs this process; when this process runs from an apphost (`lvmae`
    /// rather than `dotnet lvmae.dll`), the assembly's own apphost when it has one, else the SDK's dotnet.
    /// </summary>
    public static ProcessStartInfo StartInfo(string assembly, IEnumerable<string> args)
    {
        var current = Environment.ProcessPath ?? "dotnet";
        var underDotnet = Path.GetFileNameWithoutExtension(current) == "dotnet";
        var apphost = Path.ChangeExtension(assembly, null);
        var start = new ProcessStartInfo(underDotnet ? current : File.Exists(apphost) ? apphost : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            UseShellExecute = false,
        };
        if (start.FileName != apphost) start.ArgumentList.Add(assembly);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        return start;
    }
}
