using LvMae.Cli.Hosted;
using LvMae.Silo;
using Spectre.Console;

namespace LvMae.Grains.Tests;

/// <summary>Runs `lvmae` commands in this process against a real silo: configuration through LVMAE__ environment
/// variables (as ./lvmae gets it), output captured from both Console and Spectre's console, one command at a time. The
/// root is lvmae-host's (every command, the hosted ones included, in this process).</summary>
internal static class InProcessCli
{
    private static readonly SemaphoreSlim ConsoleLock = new(1, 1);

    public static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        await ConsoleLock.WaitAsync();
        var original = Console.Out;
        var originalAnsi = AnsiConsole.Console;
        var writer = new StringWriter();
        try
        {
            Console.SetOut(writer);
            // Spectre's console (errors, tables) keeps the writer it was created with: point it at the capture too.
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
            var code = await HostCommands.Root().Parse(args).InvokeAsync();
            return (code, writer.ToString());
        }
        finally
        {
            Console.SetOut(original);
            AnsiConsole.Console = originalAnsi;
            ConsoleLock.Release();
        }
    }

    /// <summary>Points the CLI at the silo of <paramref name="settings"/> until disposed.</summary>
    public static IDisposable Target(LvMaeSiloSettings settings)
    {
        var env = new Dictionary<string, string>
        {
            ["LVMAE__Storage__ConnectionString"] = settings.Storage.ConnectionString,
            ["LVMAE__Storage__Container"] = settings.Storage.Container,
            ["LVMAE__Clustering__GatewayPort"] = settings.Clustering.GatewayPort.ToString(),
            ["LVMAE__Clustering__SiloPort"] = settings.Clustering.SiloPort.ToString(),
            ["LVMAE__Clustering__ClusterId"] = settings.Clustering.ClusterId,
            ["LVMAE__Clustering__ServiceId"] = settings.Clustering.ServiceId,
        };
        foreach (var (k, v) in env) Environment.SetEnvironmentVariable(k, v);
        return new Restore(env.Keys);
    }

    private sealed class Restore(IEnumerable<string> keys) : IDisposable
    {
        public void Dispose()
        {
            foreach (var k in keys) Environment.SetEnvironmentVariable(k, null);
        }
    }
}
