using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using LvMae.Client;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli;

/// <summary>One `lvmae` sub-command (one file each under Commands/); discovered by reflection.</summary>
public interface ICliCommand
{
    Command Build();
}

public static class CliCommands
{
    /// <summary>Ctrl+C / SIGTERM cancel the command; a silo (`up`, `silo`) gets 30 s to leave its cluster before the process ends.</summary>
    public static readonly InvocationConfiguration Invocation = new() { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) };

    /// <summary>
    /// The `lvmae` root command: every command of this assembly, and every hosted command (<see cref="HostedCommands"/>) as
    /// <paramref name="hosted"/> implements it (lvmae-host), or else as a <see cref="ForwardedCommand"/>.
    /// </summary>
    public static RootCommand Root(IReadOnlyList<ICliCommand>? hosted = null)
    {
        CliConsole.Prepare();
        var root = new RootCommand("lvmae: long-video representations at corpus scale (LV-MAE) on an Orleans cluster") { HelpName = "lvmae" };
        var implemented = (hosted ?? []).Select(c => c.Build()).ToDictionary(c => c.Name, StringComparer.Ordinal);
        if (implemented.Keys.FirstOrDefault(name => HostedCommands.All.All(h => h.Name != name)) is { } stray)
            throw new InvalidOperationException($"'{stray}' is implemented by the host but not listed in {nameof(HostedCommands)}.{nameof(HostedCommands.All)}");
        var commands = Discover(typeof(CliCommands).Assembly).Select(c => c.Build())
            .Concat(HostedCommands.All.Select(h => implemented.GetValueOrDefault(h.Name) ?? new ForwardedCommand(h)));
        foreach (var command in commands.OrderBy(c => c.Name, StringComparer.Ordinal)) root.Add(command);
        return root;
    }

    /// <summary>The commands <paramref name="assembly"/> implements (each one class implementing <see cref="ICliCommand"/>).</summary>
    public static IReadOnlyList<ICliCommand> Discover(System.Reflection.Assembly assembly) =>
        assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
            .Select(t => (ICliCommand)Activator.CreateInstance(t)!)
            .OrderBy(c => c.GetType().Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>`lvmae ARGS`: a hosted command goes to lvmae-host as typed (its help and usage errors too); the others run here.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var parse = Root().Parse(args);
        if (parse.CommandResult.Command is ForwardedCommand forwarded) return await HostProcess.RunAsync(forwarded.Name, args);
        if (HostedCommands.RunsInHost(parse)) return await HostProcess.RunAsync(parse.CommandResult.Command.Name, args);
        return await parse.InvokeAsync(Invocation);
    }
}

/// <summary>Exit codes shared by all commands.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int NoSilo = 3;
    /// <summary>Storage refused in a way no retry changes (501, 403, a missing container or account): reported once.</summary>
    public const int Storage = 4;
}

/// <summary>A command stopped at a storage refusal no retry changes (<see cref="LvMae.Storage.StorageFailure"/>): reported once, exit <see cref="ExitCodes.Storage"/>.</summary>
public sealed class PermanentStorageFailureException(LvMae.Storage.StorageFailure failure, Exception inner) : Exception(failure.Message, inner)
{
    public LvMae.Storage.StorageFailure Failure { get; } = failure;
}

/// <summary>What the command-line commands share: configuration (appsettings.json + LVMAE__... env vars), the cluster client, blob store, output (errors, warnings, JSON).</summary>
public static class CommandLine
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static LvMaeClientSettings Settings() => LvMaeClientSettings.Load(LvMaeClientSettings.BuildConfiguration());

    public static BlobStore Blobs(LvMaeClientSettings settings) => new(settings.Storage.ConnectionString, settings.Storage.Container);

    /// <summary>Runs <paramref name="body"/> with a connected client; turns the usual failures into one clear line and an exit code.</summary>
    public static async Task<int> WithClientAsync(Func<LvMaeClientSettings, LvMaeClient, Task<int>> body)
    {
        try
        {
            var settings = Settings();
            await using var client = await LvMaeClient.ConnectAsync(settings);
            return await body(settings, client);
        }
        catch (SiloUnreachableException e)
        {
            Error(e.Message);
            return ExitCodes.NoSilo;
        }
        catch (LvMaeConfigurationException e)
        {
            Error(e.Message);
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException)
        {
            Error(e.Message);
            return ExitCodes.Usage;
        }
        catch (TimeoutException e)
        {
            // Orleans' response timeout: the call may still complete on the silo (a busy one answers late).
            Error($"the cluster did not answer in time ({e.Message.Split('\n')[0].Trim()}); the operation may still complete: check again (lvmae status, lvmae runs)");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is PermanentStorageFailureException || LvMae.Storage.StorageFailure.Find(e) is { IsPermanent: true })
        {
            Error((e as PermanentStorageFailureException)?.Failure.Message ?? LvMae.Storage.StorageFailure.Find(e)!.Message);
            return ExitCodes.Storage;
        }
    }

    /// <summary>A comma-separated list of whole numbers >= <paramref name="min"/> (e.g. --fsq-levels 8,5,5,5); prints a usage error naming the option otherwise.</summary>
    public static bool TryWholeNumbers(string option, string text, int min, out List<int> values)
    {
        values = [];
        foreach (var cell in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(cell, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < min)
            {
                Error($"{option}: '{cell}' is not a whole number >= {min}");
                return false;
            }
            values.Add(value);
        }
        return true;
    }

    public static void Error(string message) => AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(message)}");

    public static void Warning(string message) => AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(message)}");

    public static void WriteJson<T>(T value) => Console.WriteLine(JsonSerializer.Serialize(value, Json));
}
