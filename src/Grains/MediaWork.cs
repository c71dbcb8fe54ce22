using System.Collections.Concurrent;
using LvMae.Media;
using LvMae.Storage;

namespace LvMae.Grains;

/// <summary>The media operations a video grain needs (the seam between grains and LvMae.Media).</summary>
public interface IMediaWork
{
    Task<VideoInfo> ProbeAsync(string path, CancellationToken cancellationToken);
    IReadOnlyList<SegmentSpan> Plan(double durationSeconds, double segmentSeconds);
    Task<EmbeddedVideo> EncodeAsync(string path, string encoderSpec, double segmentSeconds, IProgress<double> progress, CancellationToken cancellationToken);
    /// <summary>Validates a precomputed float32 [N, d] .npy held in memory (<paramref name="name"/> names it in errors).</summary>
    (float[] Embeddings, int Count, int Dimension) ReadNpy(BlobContent content);
}

/// <summary>LvMae.Media behind <see cref="IMediaWork"/>; encoders are pooled per spec (creating resnet18 loads ONNX).</summary>
public sealed class MediaWork(Microsoft.Extensions.Options.IOptions<ProcessingOptions> options) : IMediaWork, IDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentBag<ISegmentEncoder>> _pool = new();

    public Task<VideoInfo> ProbeAsync(string path, CancellationToken cancellationToken) => VideoProber.ProbeAsync(path, cancellationToken);

    public IReadOnlyList<SegmentSpan> Plan(double durationSeconds, double segmentSeconds) =>
        Segmentation.Plan(durationSeconds, new SegmentationOptions { SegmentSeconds = segmentSeconds });

    public async Task<EmbeddedVideo> EncodeAsync(string path, string encoderSpec, double segmentSeconds, IProgress<double> progress, CancellationToken cancellationToken)
    {
        var resolved = EncoderSpecs.Resolve(encoderSpec, options.Value); // model files only from the configured folder
        var bag = _pool.GetOrAdd(resolved, _ => []);
        var encoder = bag.TryTake(out var pooled) ? pooled : SegmentEncoders.Create(resolved);
        var ok = false;
        try
        {
            var result = await VideoEmbedder.EmbedAsync(path, encoder, new SegmentationOptions { SegmentSeconds = segmentSeconds }, progress, cancellationToken);
            ok = true;
            return result;
        }
        finally
        {
            if (ok) bag.Add(encoder); else encoder.Dispose();
        }
    }

    public (float[] Embeddings, int Count, int Dimension) ReadNpy(BlobContent content) => EmbeddingImport.ReadNpy(content.Content, content.Name);

    public void Dispose()
    {
        foreach (var bag in _pool.Values)
            while (bag.TryTake(out var encoder)) encoder.Dispose();
    }
}
