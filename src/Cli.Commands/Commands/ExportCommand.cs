using System.CommandLine;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae export --run R [--out DIR]`: one long-video embedding per video ([CLS] and mean-pooled .npy + index.csv) to blob,
/// optionally copied to DIR. `lvmae export --run R --weights FILE.safetensors`: the latest checkpoint's model weights alone,
/// with the reference parameter names (PyTorch: safetensors.torch.load_file + load_state_dict of the authors' model; the
/// config, input scaling included, is in the file's metadata under "lvmae_config").
/// </summary>
public sealed class ExportCommand : ICliCommand
{
    public Command Build()
    {
        var run = new Option<string>("--run") { Description = "Run name", Required = true };
        var output = new Option<string?>("--out") { Description = "Also copy the export files to this local folder" };
        var weights = new Option<string?>("--weights") { Description = "Write the latest checkpoint's model weights to this .safetensors file instead (reference parameter names, plus input_norm.mean/std/count: standardise unit inputs with them)" };
        var command = new Command("export", "Export long-video embeddings (or the model weights) from a run's latest checkpoint") { run, output, weights };
        command.SetAction((parse, cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var name = parse.GetValue(run)!;
            if (!BlobLayout.IsValidId(name)) { CommandLine.Error($"malformed run name '{name}'"); return ExitCodes.Usage; }
            if (await TrainingCli.CheckpointedRunAsync(client.Grains, name) is not { } found) return ExitCodes.Failed;
            var (grain, before) = found;
            if (parse.GetValue(weights) is { } file)
            {
                var checkpoint = await TrainingCli.LatestCheckpointAsync(CommandLine.Blobs(settings), before, cancellationToken);
                if (checkpoint is null) return ExitCodes.Failed;
                var bytes = CheckpointFile.ExtractWeights(checkpoint);
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
                await File.WriteAllBytesAsync(file, bytes, cancellationToken);
                AnsiConsole.MarkupLine($"wrote the weights of step {before.LatestCheckpointStep} ({bytes.Length} bytes) to [bold]{Markup.Escape(Path.GetFullPath(file))}[/]");
                return ExitCodes.Ok;
            }
            var started = DateTimeOffset.UtcNow;
            var p = await TrainingCli.StartAndWaitAsync(grain.Export, grain.GetProgress, p => !p.Exporting, view: null, TimeSpan.FromSeconds(1), cancellationToken);
            if (p.Export is not { } export || export.At < started.AddSeconds(-1)) { CommandLine.Error("the export did not finish"); return ExitCodes.Failed; }
            if (export.Error is { } error) { CommandLine.Error($"export failed: {error}"); return ExitCodes.Failed; }
            AnsiConsole.MarkupLine($"exported {export.Videos} video(s) x {export.Width} from step {export.Step}:");
            foreach (var blob in export.Blobs) Console.WriteLine($"  {blob}");
            if (parse.GetValue(output) is { } dir)
            {
                var blobs = CommandLine.Blobs(settings);
                foreach (var blob in export.Blobs)
                    await blobs.DownloadToFileAsync(blob, Path.Combine(dir, Path.GetFileName(blob)), cancellationToken);
                AnsiConsole.MarkupLine($"copied to [bold]{Markup.Escape(Path.GetFullPath(dir))}[/]");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
