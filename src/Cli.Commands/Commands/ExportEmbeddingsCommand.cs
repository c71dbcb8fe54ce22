using System.CommandLine;
using LvMae.Formats;
using LvMae.Pipeline;
using LvMae.Runs;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae export-embeddings --out DIR [--encoder E]`: the stored SEGMENT embeddings of every Embedded video as
/// &lt;videoId&gt;.npy float32 [N, d] plus labels.csv (videoId + one column per label column): what Python pipelines and
/// `lvmae ablate --embeddings` read, and what `lvmae import-embeddings` takes back. (`lvmae export` writes a run's
/// long-video embeddings instead.)
/// </summary>
public sealed class ExportEmbeddingsCommand : ICliCommand
{
    public const string LabelsFile = "labels.csv";

    public Command Build()
    {
        var output = new Option<string>("--out") { Description = "Folder for <videoId>.npy files and labels.csv", Required = true };
        var encoder = new Option<string>("--encoder") { Description = "Export the embeddings of this encoder", DefaultValueFactory = _ => "resnet18" };
        var command = new Command("export-embeddings", "Write every embedded video's segment embeddings (.npy [N, d] float32) and a labels CSV to a folder") { output, encoder };
        command.SetAction((parse, cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var dir = parse.GetValue(output)!;
            var name = parse.GetValue(encoder)!;
            BlobLayout.EncoderFileName(name);   // a malformed encoder name is a usage error (ArgumentException)
            Directory.CreateDirectory(dir);
            var loader = new BlobEmbeddingLoader(CommandLine.Blobs(settings).Container);
            var labels = new List<(string Id, IReadOnlyDictionary<string, string> Labels)>();
            var failed = 0;
            var dimensions = new HashSet<int>();
            await foreach (var video in new IndexEmbeddedVideoSource(client.Grains).ListAsync(name, cancellationToken))
            {
                // One unusable blob does not stop the export.
                var loaded = await loader.TryLoadAsync(video, skipped: e => { CommandLine.Error(e.Message); failed++; }, cancellationToken: cancellationToken);
                if (loaded is null) continue;
                NpyArray.FromFloats(loaded.Values, loaded.SegmentCount, loaded.Dimension).Write(Path.Combine(dir, video.VideoId + ".npy"));
                labels.Add((video.VideoId, video.Labels ?? new Dictionary<string, string>()));
                dimensions.Add(loaded.Dimension);
            }
            if (labels.Count == 0 && failed == 0) { CommandLine.Error($"no video is embedded with '{name}'"); return ExitCodes.Failed; }
            var columns = WriteLabels(Path.Combine(dir, LabelsFile), labels);
            AnsiConsole.MarkupLine($"exported {labels.Count} videos (d = {string.Join("/", dimensions.Order())}) to {Markup.Escape(dir)}; " +
                                   $"{LabelsFile} columns: {Markup.Escape(columns.Count == 0 ? "(none)" : string.Join(", ", columns))}" +
                                   (failed > 0 ? $"; [red]{failed} failed[/]" : ""));
            return failed > 0 ? ExitCodes.Failed : ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>A headed CSV (videoId, then the label columns in order); values with commas or quotes are quoted (RFC 4180).</summary>
    public static IReadOnlyList<string> WriteLabels(string path, IReadOnlyList<(string Id, IReadOnlyDictionary<string, string> Labels)> videos)
    {
        var columns = videos.SelectMany(v => v.Labels.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        CsvFile.Write(path, [["videoId", .. columns], .. videos.Select(v => (IReadOnlyList<string>)[v.Id, .. columns.Select(c => v.Labels.GetValueOrDefault(c, ""))])]);
        return columns;
    }
}
