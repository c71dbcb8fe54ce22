using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using LvMae.Silo;
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
    /// <summary>The `lvmae` root command with every discovered sub-command.</summary>
    public static RootCommand Root()
    {
        var root = new RootCommand("lvmae: long-video representations at corpus scale (LV-MAE) on an Orleans cluster");
        foreach (var command in Discover()) root.Add(command.Build());
        return root;
    }

    public static IReadOnlyList<ICliCommand> Discover() =>
        typeof(CliCommands).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
            .Select(t => (ICliCommand)Activator.CreateInstance(t)!)
            .OrderBy(c => c.GetType().Name, StringComparer.Ordinal)
            .ToList();
}

/// <summary>Exit codes shared by all commands.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int NoSilo = 3;
}

/// <summary>What commands share: configuration (appsettings.json + LVMAE__... env vars), the cluster client, blob store, output.</summary>
public static class Cli
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static LvMaeSiloSettings Settings() => LvMaeSiloSettings.Load(LvMaeSiloSettings.BuildConfiguration());

    public static BlobStore Blobs(LvMaeSiloSettings settings) => new(settings.Storage.ConnectionString, settings.Storage.Container);

    /// <summary>Runs <paramref name="body"/> with a connected client; turns the usual failures into one clear line and an exit code.</summary>
    public static async Task<int> WithClientAsync(Func<LvMaeSiloSettings, LvMaeClient, Task<int>> body)
    {
        try
        {
            var settings = Settings();
            await using var client = await LvMaeClient.ConnectAsync(settings.Clustering, settings.Tls);
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

    public static void WriteJson<T>(T value) => Console.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>Header names that mark the first CSV column as the video (file name or id) column.</summary>
    private static readonly string[] IdHeaders = ["videoId", "video_id", "id", "video", "file", "path"];

    // A column literally named "label(s)" holds plain tags, not column=value pairs.
    private static bool IsPlainLabelColumn(string column) =>
        column.Equals("label", StringComparison.OrdinalIgnoreCase) || column.Equals("labels", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Labels per input file from --labels: a CSV file, or a comma-separated list applied to every input.
    /// A CSV whose first row is a header (first cell one of <see cref="IdHeaders"/>) gives named labels
    /// "column=value" (what training and probing group by); a headerless CSV (file,label[,label...]) gives
    /// positional labels. Rows match an input by path, file name or file name without extension.
    /// </summary>
    public static Func<string, IReadOnlyList<string>> Labels(string? option)
    {
        if (string.IsNullOrWhiteSpace(option)) return _ => [];
        if (!File.Exists(option))
        {
            var labels = option.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            return _ => labels;
        }

        var map = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        string[]? header = null;
        var first = true;
        foreach (var line in File.ReadLines(option))
        {
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#')) continue;
            var cells = trimmed.Split(',', StringSplitOptions.TrimEntries);
            if (first)
            {
                first = false;
                if (IdHeaders.Contains(cells[0], StringComparer.OrdinalIgnoreCase)) { header = cells; continue; }
            }
            if (cells.Length < 2 || cells[0].Length == 0) continue;
            map[cells[0]] = header is null
                ? cells[1..].Where(c => c.Length > 0).ToList()
                : cells.Skip(1).Zip(header.Skip(1), (value, column) => (value, column))
                    .Where(p => p.value.Length > 0 && p.column.Length > 0)
                    .Select(p => IsPlainLabelColumn(p.column) || p.value.StartsWith(p.column + "=", StringComparison.Ordinal)
                        ? p.value : $"{p.column}={p.value}").ToList();
        }
        return path =>
            map.TryGetValue(path, out var l) || map.TryGetValue(Path.GetFileName(path), out l) ||
            map.TryGetValue(Path.GetFileNameWithoutExtension(path), out l) ? l : [];
    }
}
