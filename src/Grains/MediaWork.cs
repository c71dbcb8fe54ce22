using System.Collections.Concurrent;
using LvMae.Media;
using LvMae.Storage;

namespace LvMae.Grains;

/// <summary>The media operations a video grain needs (the seam between grains and LvMae.Media).</summary>
public interface IMediaWork
{
    Task<VideoInfo> InspectAsync(string path, CancellationToken cancellationToken);
    IReadOnlyList<SegmentSpan> Plan(double durationSeconds, double segmentSeconds);
    /// <summary>Encodes <paramref name="plan"/> (from <see cref="Plan"/>) of a video already inspected (<paramref name="info"/>): one ffprobe run per video.</summary>
    Task<EmbeddedVideo> EncodeAsync(string path, VideoInfo info, IReadOnlyList<SegmentSpan> plan, string encoderSpec, double segmentSeconds, IProgress<double> progress, CancellationToken cancellationToken);
    /// <summary>Validates a precomputed float32 [N, d] .npy as it is read from storage, in constant memory; its [count, dim] (<see cref="BlobReader.Name"/> names it in errors).</summary>
    (int Count, int Dimension) ValidateNpy(BlobReader content);
    /// <summary>Validates a precomputed .npy already in memory (an import that came with its registration).</summary>
    (int Count, int Dimension) ValidateNpy(Stream content, long length, string name);
}

/// <summary>
/// LvMae.Media behind <see cref="IMediaWork"/>; encoders are pooled per spec (creating resnet18 loads ONNX). Every encoder
/// and ffmpeg run uses <paramref name="encoderOptions"/> and <paramref name="sampling"/>: in a silo, the threads of
/// <see cref="MediaThreadBudget.For"/>(cores, <see cref="ProcessingOptions.MaxConcurrentJobs"/>).
/// </summary>
public sealed class MediaWork(ProcessingOptions options, EncoderOptions encoderOptions, FrameSamplingOptions sampling) : IMediaWork, IDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentBag<ISegmentEncoder>> _pool = new();

    /// <summary>The silo's: encoders and ffmpeg within <see cref="MediaThreadBudget.For"/>(this machine's cores, MaxConcurrentJobs).</summary>
    public MediaWork(Microsoft.Extensions.Options.IOptions<ProcessingOptions> options)
        : this(options.Value, MediaThreadBudget.ForThisMachine(options.Value.MaxConcurrentJobs)) { }

    public MediaWork(ProcessingOptions options, MediaThreadBudget budget)
        : this(options, budget.Apply(EncoderOptions.Default) with { BatchFrames = options.InferenceBatchFrames }, budget.Apply(FrameSamplingOptions.Default)) { }

    public Task<VideoInfo> InspectAsync(string path, CancellationToken cancellationToken) => VideoInspector.InspectAsync(path, cancellationToken);

    public IReadOnlyList<SegmentSpan> Plan(double durationSeconds, double segmentSeconds) =>
        Segmentation.Plan(durationSeconds, Options(segmentSeconds));

    public Task<EmbeddedVideo> EncodeAsync(string path, VideoInfo info, IReadOnlyList<SegmentSpan> plan, string encoderSpec, double segmentSeconds, IProgress<double> progress, CancellationToken cancellationToken) =>
        WithEncoderAsync(encoderSpec, encoder => VideoEmbedder.EmbedAsync(path, info, plan, encoder, Options(segmentSeconds), sampling, progress, cancellationToken));

    private static SegmentationOptions Options(double segmentSeconds) => new() { SegmentSeconds = segmentSeconds };

    private async Task<EmbeddedVideo> WithEncoderAsync(string encoderSpec, Func<ISegmentEncoder, Task<EmbeddedVideo>> work)
    {
        var resolved = EncoderSpecs.Resolve(encoderSpec, options); // model files only from the configured folder
        var bag = _pool.GetOrAdd(resolved, _ => []);
        var encoder = bag.TryTake(out var pooled) ? pooled : SegmentEncoders.Create(resolved, encoderOptions);
        var ok = false;
        try
        {
            var result = await work(encoder);
            ok = true;
            return result;
        }
        finally
        {
            if (ok) bag.Add(encoder); else encoder.Dispose();
        }
    }

    public (int Count, int Dimension) ValidateNpy(BlobReader content) => EmbeddingImport.ValidateNpy(content.Content, content.Length, content.Name);

    public (int Count, int Dimension) ValidateNpy(Stream content, long length, string name) => EmbeddingImport.ValidateNpy(content, length, name);

    public void Dispose()
    {
        foreach (var bag in _pool.Values)
            while (bag.TryTake(out var encoder)) encoder.Dispose();
    }
}
