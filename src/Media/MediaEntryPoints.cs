namespace LvMae.Media;

// Entry points used by grains, pipeline and CLI. Signatures are the contract; bodies are filled in
// by the media implementation (issue 11).

public static class VideoProber
{
    /// <summary>ffprobe the file; throws <see cref="MediaException"/> naming the file and the problem.</summary>
    public static Task<VideoInfo> ProbeAsync(string path, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();
}

public static class Segmentation
{
    /// <summary>Consecutive segments covering the duration; the last partial one kept if long enough.</summary>
    public static IReadOnlyList<SegmentSpan> Plan(double durationSeconds, SegmentationOptions options) =>
        throw new NotImplementedException();
}

public static class SegmentEncoders
{
    /// <summary>"resnet18" (default), "builtin", or "model:&lt;path to .onnx or TorchScript .pt&gt;".</summary>
    public static ISegmentEncoder Create(string spec) => throw new NotImplementedException();
}

public static class VideoEmbedder
{
    /// <summary>Probe, segment, sample frames and encode one video; progress reports the fraction done (0..1).</summary>
    public static Task<EmbeddedVideo> EmbedAsync(
        string path, ISegmentEncoder encoder, SegmentationOptions options,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();
}

public static class EmbeddingImport
{
    /// <summary>Reads a precomputed float32 [N, d] `.npy` (as Python pipelines write them); clear error when malformed.</summary>
    public static (float[] Embeddings, int Count, int Dimension) ReadNpy(string path) =>
        throw new NotImplementedException();
}
