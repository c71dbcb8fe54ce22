using System.CommandLine;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Model;
using LvMae.Model.Masking;
using LvMae.Model.Retrieval;
using LvMae.Model.Training;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Hosted.Commands;

/// <summary>
/// `lvmae retrieve --run R --video ID --captions FILE`: the paper's interpretability check on one video with the run's latest
/// checkpoint: mask it, reconstruct it, and list per masked segment the nearest captions of the original and of the
/// reconstruction. FILE is a .npy [C, d] of caption embeddings (same space as the segment encoder) with a sibling .txt, one caption a line.
/// Runs in this process on the CPU (the checkpoint and the video's embeddings are read from blob).
/// </summary>
public sealed class RetrieveCommand : ICliCommand
{
    public Command Build()
    {
        var run = new Option<string>("--run") { Description = "Run name", Required = true };
        var video = new Option<string>("--video") { Description = "Video id", Required = true };
        var captions = new Option<string>("--captions") { Description = "Caption embeddings .npy [C, d] (captions in the sibling .txt)", Required = true };
        var top = new Option<int>("--top") { Description = "Captions per segment", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "Mask seed", DefaultValueFactory = _ => 0 };
        var command = new Command(HostedCommands.Retrieve.Name, HostedCommands.Retrieve.Description) { run, video, captions, top, seed };
        command.SetAction((parse, cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var name = parse.GetValue(run)!;
            var id = parse.GetValue(video)!;
            if (!BlobLayout.IsValidId(name) || !BlobLayout.IsValidId(id)) { CommandLine.Error("malformed run name or video id"); return ExitCodes.Usage; }
            var npy = parse.GetValue(captions)!;
            var txt = Path.ChangeExtension(npy, ".txt");
            if (!File.Exists(npy) || !File.Exists(txt)) { CommandLine.Error($"need {npy} and {txt}"); return ExitCodes.Usage; }
            var index = CaptionIndex.Load(npy, txt);

            var p = await client.Grains.GetGrain<ITrainingRunGrain>(name).GetProgress();
            if (p.State == TrainingState.None || p.Config is null) { CommandLine.Error($"no run '{name}'"); return ExitCodes.Failed; }
            if (p.LatestCheckpoint is null) { CommandLine.Error($"run '{name}' has no checkpoint yet"); return ExitCodes.Failed; }
            var blobs = CommandLine.Blobs(settings);
            var checkpoint = await TrainingCli.LatestCheckpointAsync(blobs, p, cancellationToken);
            var embeddings = await blobs.TryDownloadAsync(BlobLayout.Embeddings(id, p.Config.Encoder), cancellationToken);
            if (checkpoint is null) return ExitCodes.Failed;
            if (embeddings is null) { CommandLine.Error($"video '{id}' has no {p.Config.Encoder} embeddings"); return ExitCodes.Failed; }
            var array = NpyArray.Read(new MemoryStream(embeddings));
            var dim = (int)array.Shape[^1];

            using var model = ModelWeights.LoadModel(Checkpoint.ExtractWeights(checkpoint), TorchDevice.Resolve("cpu"));
            var masking = MaskingStrategies.Create(p.Config.Masking, p.Config.MaskRatio);
            var results = ReconstructionRetrieval.Explain(model, array.ToFloats(), dim, index, masking, new Random(parse.GetValue(seed)), parse.GetValue(top));
            var table = new ResultTable("segment", "original", "reconstruction", "cosine");
            foreach (var r in results)
                table.Row(r.Position.ToString(), string.Join(" | ", r.Original.Select(m => $"{m.Caption} ({m.Score:F2})")),
                    string.Join(" | ", r.Reconstructed.Select(m => $"{m.Caption} ({m.Score:F2})")), r.ReconstructionCosine.ToString("F3"));
            table.Write();
            return ExitCodes.Ok;
        }));
        return command;
    }
}
