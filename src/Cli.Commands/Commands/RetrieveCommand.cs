using System.CommandLine;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae retrieve --run R --video ID --captions FILE`: the paper's interpretability check on one video with the run's latest
/// checkpoint: mask it, reconstruct it, and list per masked segment the nearest captions of the original and of the
/// reconstruction. FILE is a .npy [C, d] of caption embeddings (same space as the segment encoder) with a sibling .txt, one caption a line.
/// The captions are read here; masking, reconstruction and matching run on a silo (<see cref="IRunRetrievalGrain"/>, on
/// its CPU, the checkpoint and the video's embeddings read from blob there): this process holds no model.
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
        var command = new Command("retrieve", "Nearest captions of masked segments: original vs reconstruction") { run, video, captions, top, seed };
        command.SetAction((parse, cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var name = parse.GetValue(run)!;
            var id = parse.GetValue(video)!;
            if (!BlobLayout.IsValidId(name) || !BlobLayout.IsValidId(id)) { CommandLine.Error("malformed run name or video id"); return ExitCodes.Usage; }
            var npy = parse.GetValue(captions)!;
            var txt = Path.ChangeExtension(npy, ".txt");
            if (!File.Exists(npy) || !File.Exists(txt)) { CommandLine.Error($"need {npy} and {txt}"); return ExitCodes.Usage; }
            var (embeddings, dim, lines) = LoadCaptions(npy, txt);

            var p = await client.Grains.GetGrain<ITrainingRunGrain>(name).GetProgress();
            if (p.State == TrainingState.None || p.Config is null) { CommandLine.Error($"no run '{name}'"); return ExitCodes.Failed; }
            if (p.LatestCheckpoint is null) { CommandLine.Error($"run '{name}' has no checkpoint yet"); return ExitCodes.Failed; }
            var found = await client.Grains.GetGrain<IRunRetrievalGrain>(name).Retrieve(new RetrievalRequest
            {
                VideoId = id, CaptionEmbeddings = embeddings, CaptionDim = dim, Captions = lines, Top = parse.GetValue(top), Seed = parse.GetValue(seed),
            });
            if (found.Error is { } error) { CommandLine.Error(error); return ExitCodes.Failed; }
            var results = found.Segments;
            var table = new ResultTable("segment", "original", "reconstruction", "cosine");
            foreach (var r in results)
                table.Row(r.Position.ToString(), string.Join(" | ", r.Original.Select(m => $"{m.Caption} ({m.Score:F2})")),
                    string.Join(" | ", r.Reconstructed.Select(m => $"{m.Caption} ({m.Score:F2})")), r.ReconstructionCosine.ToString("F3"));
            table.Write();
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>A .npy [C, D] of caption embeddings and a text file with one caption per non-empty line, C of them
    /// (<see cref="InvalidDataException"/> otherwise).</summary>
    public static (float[] Embeddings, int Dim, IReadOnlyList<string> Captions) LoadCaptions(string npyPath, string captionsPath)
    {
        var array = NpyArray.Read(npyPath);
        if (array.Shape.Length != 2) throw new InvalidDataException($"caption embeddings must be [C, D], got [{string.Join(", ", array.Shape)}]");
        var captions = File.ReadAllLines(captionsPath).Where(l => l.Length > 0).ToList();
        if (captions.Count != array.Shape[0]) throw new InvalidDataException($"{captionsPath} has {captions.Count} captions, {npyPath} has {array.Shape[0]} rows");
        return (array.ToFloats(), (int)array.Shape[1], captions);
    }
}
