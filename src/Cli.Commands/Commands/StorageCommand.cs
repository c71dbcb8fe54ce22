using System.CommandLine;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae storage migrate`: moves grain state written by releases before 2026-12 (a hand-written provider, blobs
/// grainstate/&lt;type&gt;/&lt;key&gt;.json in the data container) to where Orleans' Azure blob provider reads it (container
/// "&lt;container&gt;-state", blobs state-&lt;type&gt;/&lt;key&gt;.json). The JSON is the same, so blobs move verbatim. Old index
/// shards are not moved: `lvmae index rebuild` recreates the index from the migrated video states. Run it with no silo up.
/// </summary>
public sealed class StorageCommand : ICliCommand
{
    /// <summary>Grain types whose old state is not migrated (derived data, rebuilt instead).</summary>
    public static readonly IReadOnlySet<string> Rebuilt = new HashSet<string>(StringComparer.Ordinal) { "lvmae.corpus-index" };

    public Command Build()
    {
        var keep = new Option<bool>("--keep") { Description = "Leave the old blobs where they are (default: delete each once copied)" };
        var migrate = new Command("migrate", "Move grain state of releases before 2026-12 to Orleans' Azure blob provider layout (run with no silo up)") { keep };
        migrate.SetAction(async (parse, ct) =>
        {
            var settings = CommandLine.Settings();
            var data = CommandLine.Blobs(settings);
            var target = new BlobStore(settings.Storage.ConnectionString, BlobLayout.GrainStateContainer(settings.Storage.Container));
            var (moved, present, skipped) = await MigrateAsync(data, target, parse.GetValue(keep), ct);
            AnsiConsole.MarkupLine($"{moved} state blob(s) moved, {present} already there, {skipped} index shard(s) left to rebuild");
            if (moved + present > 0) AnsiConsole.MarkupLine("now start the silos and run [bold]lvmae index rebuild[/] to rebuild the index from the video states");
            return ExitCodes.Ok;
        });
        return new Command("storage", "Storage maintenance") { migrate };
    }

    public static async Task<(int Moved, int Present, int Skipped)> MigrateAsync(BlobStore data, BlobStore target, bool keep, CancellationToken ct)
    {
        int moved = 0, present = 0, skipped = 0;
        await foreach (var blob in data.ListAsync(BlobLayout.LegacyGrainStatePrefix, ct))
        {
            var parts = blob.Name[BlobLayout.LegacyGrainStatePrefix.Length..].Split('/');
            if (parts.Length != 2 || !parts[1].EndsWith(".json", StringComparison.Ordinal)) continue;
            var type = Uri.UnescapeDataString(parts[0]);
            var key = Uri.UnescapeDataString(parts[1][..^".json".Length]);
            if (Rebuilt.Contains(type)) { skipped++; continue; }
            var content = await data.TryDownloadAsync(blob.Name, ct);
            if (content is null) continue;
            try
            {
                await target.UploadConditionalAsync(BlobLayout.GrainStateBlob("state", type, key), content, ifMatch: null, contentType: "application/json", cancellationToken: ct);
                moved++;
            }
            catch (BlobConflictException) { present++; } // migrated before, or written by a new silo since: never overwritten
            if (!keep) await data.DeleteIfExistsAsync(blob.Name, ct);
        }
        if (!keep)
            await foreach (var blob in data.ListAsync(BlobLayout.LegacyGrainStatePrefix + Uri.EscapeDataString("lvmae.corpus-index") + "/", ct))
                await data.DeleteIfExistsAsync(blob.Name, ct);
        return (moved, present, skipped);
    }
}
