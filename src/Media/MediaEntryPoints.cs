namespace LvMae.Media;

// Entry points used by grains, pipeline and CLI. Signatures are the contract; the work is done in
// Inspection.cs (ffprobe), SegmentPlanning.cs, FrameSampler.cs, Embedder.cs, the encoders and EmbeddingImportImpl.cs.

public static class VideoInspector
{
    /// <summary>ffprobe the file; throws <see cref="MediaException"/> naming the file and the problem.</summary>
    public static Task<VideoInfo> InspectAsync(string path, CancellationToken cancellationToken = default) =>
        InspectionImpl.InspectAsync(path, ToolTimeouts.Default, cancellationToken);

    /// <summary>As above, with ffprobe killed and the file failed as TimedOut after <see cref="ToolTimeouts.Probe"/>.</summary>
    public static Task<VideoInfo> InspectAsync(string path, ToolTimeouts timeouts, CancellationToken cancellationToken) =>
        InspectionImpl.InspectAsync(path, timeouts, cancellationToken);
}

public static class Segmentation
{
    /// <summary>Consecutive segments covering the duration, the last partial one kept if long enough; computed on demand (no memory per segment).</summary>
    public static IReadOnlyList<SegmentSpan> Plan(double durationSeconds, SegmentationOptions options) =>
        SegmentPlanning.Plan(durationSeconds, options);

    /// <summary>The instants sampled in a segment: centres of <paramref name="framesPerSegment"/> equal sub-intervals.</summary>
    public static double[] SampleTimes(SegmentSpan segment, int framesPerSegment) =>
        SegmentPlanning.TargetTimes(segment, framesPerSegment);
}

public static class SegmentEncoders
{
    /// <summary>The encoder used when none is named.</summary>
    public const string DefaultSpec = "resnet18";

    /// <summary>Specs <see cref="Create(string)"/> understands (model files as "model:&lt;path&gt;").</summary>
    public static IReadOnlyList<string> Known { get; } = ["resnet18", "builtin", "model:<path to .onnx>"];

    /// <summary>"resnet18" (default), "builtin", or "model:&lt;path to .onnx&gt;" (TorchScript is not supported: export to ONNX).</summary>
    public static ISegmentEncoder Create(string spec) => Create(spec, EncoderOptions.Default);

    public static ISegmentEncoder Create(string spec, EncoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var text = (spec ?? "").Trim();
        if (text.Length == 0) text = DefaultSpec;
        if (text.StartsWith("model:", StringComparison.OrdinalIgnoreCase))
        {
            var path = text[6..].Trim();
            if (path.Length == 0) throw new ArgumentException("model: needs a file path, e.g. model:/models/clip-image.onnx", nameof(spec));
            return new OnnxModelEncoder(path, options);
        }
        return text.ToLowerInvariant() switch
        {
            "resnet18" => new ResNet18Encoder(options),
            "builtin" => options.FramesPerSegment is { } f ? new BuiltinEncoderWithFrames(f) : new BuiltinEncoder(),
            _ => throw new ArgumentException($"unknown encoder '{spec}': use one of {string.Join(", ", Known)}", nameof(spec)),
        };
    }

    /// <summary>The builtin encoder with another default frame count (same embeddings for the same frames).</summary>
    private sealed class BuiltinEncoderWithFrames(int frames) : ISegmentEncoder
    {
        private readonly BuiltinEncoder _inner = new();
        public string Name => _inner.Name;
        public string Version => _inner.Version;
        public int Dimension => _inner.Dimension;
        public string Device => _inner.Device;
        public int FrameSize => _inner.FrameSize;
        public int DefaultFramesPerSegment => frames;
        public int MaxBatchFrames => _inner.MaxBatchFrames;
        public float[] Encode(IReadOnlyList<SegmentFrames> segments) => _inner.Encode(segments);
        public void Dispose() => _inner.Dispose();
    }
}

public static class VideoEmbedder
{
    /// <summary>Probe, segment, sample frames and encode one video; progress reports the fraction done (0..1).</summary>
    public static Task<EmbeddedVideo> EmbedAsync(
        string path, ISegmentEncoder encoder, SegmentationOptions options,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default) =>
        EmbedderImpl.EmbedAsync(path, encoder, options, null, progress, cancellationToken);

    /// <summary>As above, with control over how frames are decoded (no optional parameters, so a null progress never makes calls ambiguous).</summary>
    public static Task<EmbeddedVideo> EmbedAsync(
        string path, ISegmentEncoder encoder, SegmentationOptions options, FrameSamplingOptions? sampling,
        IProgress<double>? progress, CancellationToken cancellationToken) =>
        EmbedderImpl.EmbedAsync(path, encoder, options, sampling, progress, cancellationToken);

    /// <summary>
    /// Samples and encodes <paramref name="segments"/> of a video the caller has already probed (<paramref name="info"/>,
    /// returned in the result as is) and planned (<see cref="Segmentation.Plan"/> with <paramref name="options"/>):
    /// no second ffprobe run. The embeddings equal <see cref="EmbedAsync(string, ISegmentEncoder, SegmentationOptions, FrameSamplingOptions?, IProgress{double}?, CancellationToken)"/>'s for the same plan.
    /// </summary>
    public static Task<EmbeddedVideo> EmbedAsync(
        string path, VideoInfo info, IReadOnlyList<SegmentSpan> segments, ISegmentEncoder encoder, SegmentationOptions options,
        FrameSamplingOptions? sampling, IProgress<double>? progress, CancellationToken cancellationToken) =>
        EmbedderImpl.EmbedPlannedAsync(path, info, segments, encoder, options, sampling, progress, cancellationToken);
}

public static class EmbeddingImport
{
    /// <summary>Reads a precomputed float32 [N, d] `.npy` (as Python pipelines write them); clear error when malformed.</summary>
    public static (float[] Embeddings, int Count, int Dimension) ReadNpy(string path) => ImportImpl.ReadNpy(path);

    /// <summary>
    /// The same checks on a .npy streamed from <paramref name="content"/> (<paramref name="length"/> bytes: a blob download),
    /// in constant memory whatever its size; its [count, dim]. <paramref name="name"/> names the input in errors.
    /// </summary>
    public static (int Count, int Dimension) ValidateNpy(Stream content, long length, string name) => ImportImpl.ValidateNpy(content, length, name);

    /// <summary>Every &lt;videoId&gt;.npy in <paramref name="directory"/> (same dimension), with labels from an optional CSV (id column videoId/video_id/id + label columns).</summary>
    public static ImportedEmbeddings ImportDirectory(string directory, string? labelsCsv = null) => ImportImpl.ImportDirectory(directory, labelsCsv);

    /// <summary>Parses a labels CSV: id column (videoId, video_id, id or video) plus label columns.</summary>
    public static LabelTable ReadLabels(string path) => ImportImpl.ReadLabels(path);
}
