using System.Diagnostics;

namespace LvMae.Bench;

/// <summary>
/// `lvmae` as its own process (the product path a user runs), configured through LVMAE__ environment variables.
/// The harness carries lvmae.dll beside itself (a project reference to src/Cli).
/// </summary>
public static class CliProcess
{
    public static async Task<(int Code, string Output)> RunAsync(IReadOnlyDictionary<string, string> env, string workingDirectory,
        CancellationToken cancellationToken, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "lvmae.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in env) start.Environment[$"LVMAE__{k}"] = v;
        start.Environment["COLUMNS"] = "200";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try { await process.WaitForExitAsync(cancellationToken); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw; }
        return (process.ExitCode, await stdout + await stderr);
    }

    public static Task<(int Code, string Output)> RunAsync(IReadOnlyDictionary<string, string> env, string workingDirectory, params string[] args) =>
        RunAsync(env, workingDirectory, CancellationToken.None, args);

    public static string Tail(string text, int lines) => string.Join("\n", text.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines));
}
