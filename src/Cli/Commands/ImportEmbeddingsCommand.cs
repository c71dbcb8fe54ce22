using System.CommandLine;
using LvMae.Grains.Ingestion;

namespace LvMae.Cli.Commands;

/// <summary>`lvmae import-embeddings &lt;dir&gt;`: precomputed float32 [N, d] .npy per video (file stem = video id).</summary>
public sealed class ImportEmbeddingsCommand : ICliCommand
{
    public Command Build()
    {
        var dir = new Argument<string>("dir") { Description = "Folder (recursive), file or glob of .npy files, one per video, named <video id>.npy" };
        var labels = new Option<string?>("--labels") { Description = "Labels: a CSV file (id,label[,label...]) or a comma-separated list for every input" };
        var encoderName = new Option<string>("--encoder-name") { Description = "Name recorded for these embeddings (e.g. languagebind)", DefaultValueFactory = _ => "imported" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once registered" };
        var parallel = new Option<int>("--parallel") { Description = "Files hashed, uploaded and registered at once", DefaultValueFactory = _ => 16 };
        var command = new Command("import-embeddings", "Import precomputed segment embeddings (.npy [N, d] float32, as Python pipelines write them)") { dir, labels, encoderName, noWait, parallel };
        command.SetAction((parse, ct) => Cli.WithClientAsync(async (settings, client) =>
        {
            var files = VideoIngestor.Expand(parse.GetValue(dir)!, new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".npy" });
            if (files.Count == 0) { Cli.Error("no .npy files found"); return ExitCodes.Usage; }
            var labelOf = Cli.Labels(parse.GetValue(labels));
            var name = parse.GetValue(encoderName)!;
            var ingestor = new VideoIngestor(Cli.Blobs(settings), client.Grains);
            var results = await IngestionProgress.RegisterAsync(files, parse.GetValue(parallel), (path, c) => ingestor.ImportEmbeddingsAsync(path, name, labelOf(path), c), ct);
            return parse.GetValue(noWait) ? IngestionProgress.Report(results, new Dictionary<string, Contracts.VideoIndexEntry>()) : await IngestionProgress.FollowAsync(client.Grains, results, ct);
        }));
        return command;
    }
}
