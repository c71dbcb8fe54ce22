using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>
/// `lvmae` as a separate process, the way a user runs it: `dotnet lvmae.dll ARGS` (the CLI built beside the tests) in a
/// working folder of its own, with LVMAE__... settings in its environment.
/// </summary>
internal sealed class CliProcess
{
    private readonly string _workingDirectory;
    private readonly Dictionary<string, string> _environment;

    public CliProcess(string workingDirectory, IReadOnlyDictionary<string, string> environment)
    {
        _workingDirectory = workingDirectory;
        _environment = new Dictionary<string, string>(environment) { ["LVMAE_AZURITE_BIN"] = AzuriteLocator.Find() };
    }

    /// <summary>Runs to the end; the output (stdout + stderr) with line breaks and runs of spaces folded to one space, since tables and errors wrap at 80 columns.</summary>
    public async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        await using var process = Start(args);
        var code = await process.WaitForExitAsync(TimeSpan.FromMinutes(4));
        return (code, Fold(process.Output));
    }

    /// <summary>Starts it; its output is collected as it comes (a pipe nobody reads would block it).</summary>
    public RunningCli Start(params string[] args)
    {
        var host = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo(host)
        {
            WorkingDirectory = _workingDirectory, UseShellExecute = false,
            RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "lvmae.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var (key, value) in _environment) start.Environment[key] = value;
        return new RunningCli(Process.Start(start) ?? throw new InvalidOperationException("could not start lvmae"));
    }

    public static string Fold(string text) => Regex.Replace(text, @"\s+", " ");
}

/// <summary>A started `lvmae` process and its output so far; killed (with its children) if still running when disposed.</summary>
internal sealed class RunningCli : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource Seen)> _waiters = [];

    public RunningCli(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Received(e.Data);
        process.ErrorDataReceived += (_, e) => Received(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    private void Received(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.AppendLine(line);
            foreach (var waiter in _waiters.Where(w => w.Match(line))) waiter.Seen.TrySetResult();
        }
    }

    /// <summary>Waits for a line of output matching <paramref name="match"/>; fails with the output so far when the process ends first or after <paramref name="timeout"/>.</summary>
    public async Task WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_output)
        {
            if (_output.ToString().Split('\n').Any(l => match(l.TrimEnd('\r')))) return;
            _waiters.Add((match, seen));
        }
        var exited = _process.WaitForExitAsync();
        var finished = await Task.WhenAny(seen.Task, exited, Task.Delay(timeout));
        if (finished != seen.Task)
            throw new Xunit.Sdk.XunitException($"lvmae {(finished == exited ? $"exited with code {_process.ExitCode}" : $"did not print the expected line within {timeout}")}:\n{Output}");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
