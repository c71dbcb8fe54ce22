using System.CommandLine;
using LvMae.Client;
using LvMae.Storage;

namespace LvMae.Cli.Commands;

/// <summary>`lvmae import-embeddings &lt;dir&gt;`: precomputed float32 [N, d] .npy per video (file stem = video id).</summary>
public sealed class ImportEmbeddingsCommand : ICliCommand
{
    public Command Build()
    {
        var dir = new Argument<string>("dir") { Description = "Folder (recursive), file or glob of .npy files, one per video, named <video id>.npy" };
        var labels = new Option<string?>("--labels") { Description = "Labels: a CSV file (id,label[,label...], or headed: id,column,...) or a comma-separated list for every input" };
        var encoderName = new Option<string>("--encoder-name") { Description = "Name recorded for these embeddings (e.g. languagebind)", DefaultValueFactory = _ => "imported" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once registered" };
        var parallel = new Option<int>("--parallel") { Description = "Files hashed, uploaded and registered at once", DefaultValueFactory = _ => 16 };
        var inline = new Option<int>("--inline-bytes")
        {
            Description = $"Files up to this size travel inside the registration (validated and stored by the silo: one call each); larger ones are uploaded first. 0 = upload every file first (at most {Contracts.VideoRegistration.MaxInlineContentBytes})",
            DefaultValueFactory = _ => Contracts.VideoRegistration.MaxInlineContentBytes,
        };
        inline.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 0 or > Contracts.VideoRegistration.MaxInlineContentBytes)
                r.AddError($"--inline-bytes must be between 0 and {Contracts.VideoRegistration.MaxInlineContentBytes}");
        });
        var command = new Command("import-embeddings", "Import precomputed segment embeddings (.npy [N, d] float16/32/64, C or Fortran order, as Python pipelines write them)") { dir, labels, encoderName, noWait, parallel, inline };
        command.SetAction(async (parse, ct) =>
        {
            var name = parse.GetValue(encoderName)!;
            var batch = IngestionInputs.Check([parse.GetValue(dir)!], new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".npy" }, ".npy", parse.GetValue(labels), parse.GetValue(parallel),
                () => BlobLayout.EncoderFileName(name));
            if (batch is null) return ExitCodes.Usage;
            return await CommandLine.WithClientAsync(async (settings, client) =>
            {
                var ingestor = new VideoIngestor(CommandLine.Blobs(settings), client.Grains) { InlineImportBytes = parse.GetValue(inline) };
                var results = await IngestionProgress.RegisterAsync(batch.Files, batch.Parallel, (path, c) => ingestor.ImportEmbeddingsAsync(path, name, batch.Labels.For(path), c), ct);
                results.AddRange(batch.Refused);
                return parse.GetValue(noWait) ? IngestionProgress.Report(results, new Dictionary<string, Contracts.VideoIndexEntry>()) : await IngestionProgress.FollowAsync(client.Grains, results, ct);
            });
        });
        return command;
    }
}
