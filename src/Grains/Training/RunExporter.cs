using System.Globalization;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Model;
using LvMae.Model.Training;
using LvMae.Pipeline;
using LvMae.Runs;
using LvMae.Storage;

namespace LvMae.Grains.Training;

/// <summary>
/// The product's output for a run: one long-video embedding per embedded video from the run's latest checkpoint, written to
/// runs/&lt;run&gt;/export/: cls.npy [V, W] (the [CLS] output), mean.npy [V, W] (mean-pooled segment outputs) and index.csv
/// (row,video_id,segments), rows in video id order. Runs on a dedicated thread; videos are encoded in chunks.
/// </summary>
public static class RunExporter
{
    public const string ClsFile = "cls.npy";
    public const string MeanFile = "mean.npy";
    public const string IndexFile = "index.csv";

    /// <summary>Exports from the checkpoint of <paramref name="step"/> on a dedicated thread.</summary>
    public static async Task<ExportInfo> ExportAsync(string run, CheckpointStore checkpoints, long step, TrainingRunConfig config,
        IEmbeddedVideoSource source, IEmbeddingLoader loader, BlobStore blobs)
    {
        var checkpoint = (await checkpoints.LoadAsync(step)).Checkpoint;
        return await DedicatedThread.Run($"lvmae-export-{run}", () => Export(run, checkpoint, step, config, source, loader, blobs, CancellationToken.None));
    }

    public static ExportInfo Export(string run, byte[] checkpoint, long step, TrainingRunConfig config, IEmbeddedVideoSource source,
        IEmbeddingLoader loader, BlobStore blobs, CancellationToken ct)
    {
        using var model = ModelWeights.LoadModel(Checkpoint.ExtractWeights(checkpoint), TorchDevice.Resolve(config.Device));
        var dim = model.Config.EmbeddingDim;
        var width = model.Config.Width;
        var videos = source.ListAsync(config.Encoder, ct).ToBlockingEnumerable(ct).OrderBy(v => v.VideoId, StringComparer.Ordinal).ToList();
        var cls = new List<float>();
        var mean = new List<float>();
        List<IReadOnlyList<string>> index = [["row", "video_id", "segments"]];
        var rows = 0;
        foreach (var chunk in videos.Chunk(64))
        {
            // An unusable video is left out of the export (the index lists what is in it).
            var loaded = chunk.Select(video => loader.TryLoadAsync(video, dim, cancellationToken: ct).GetAwaiter().GetResult()).OfType<LoadedEmbeddings>().ToList();
            if (loaded.Count == 0) continue;
            var encoded = Representation.EncodeMany(model, loaded.Select(l => l.Values).ToList(), dim);
            for (var i = 0; i < loaded.Count; i++)
            {
                cls.AddRange(encoded[i].Cls);
                mean.AddRange(encoded[i].Mean());
                index.Add([rows.ToString(CultureInfo.InvariantCulture), loaded[i].VideoId, loaded[i].SegmentCount.ToString(CultureInfo.InvariantCulture)]);
                rows++;
            }
        }
        var metadata = new Dictionary<string, string> { ["step"] = step.ToString(CultureInfo.InvariantCulture), ["videos"] = rows.ToString(CultureInfo.InvariantCulture) };
        var names = new[] { BlobLayout.RunExport(run, ClsFile), BlobLayout.RunExport(run, MeanFile), BlobLayout.RunExport(run, IndexFile) };
        blobs.UploadAsync(names[0], Npy(cls, rows, width), metadata, "application/octet-stream", ct).GetAwaiter().GetResult();
        blobs.UploadAsync(names[1], Npy(mean, rows, width), metadata, "application/octet-stream", ct).GetAwaiter().GetResult();
        blobs.UploadAsync(names[2], CsvFile.ToBytes(index), metadata, "text/csv", ct).GetAwaiter().GetResult();
        return new ExportInfo { Step = step, Videos = rows, Width = width, Blobs = names, At = DateTimeOffset.UtcNow };
    }

    private static byte[] Npy(List<float> values, int rows, int width)
    {
        using var stream = new MemoryStream();
        NpyArray.FromFloats(values.ToArray(), rows, width).Write(stream);
        return stream.ToArray();
    }
}
