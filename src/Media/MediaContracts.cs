namespace LvMae.Media;

// The surface other projects (grains, pipeline, CLI) use. Implementation lives beside it.

/// <summary>What is wrong with a media input; permanent kinds are properties of the file itself.</summary>
public enum MediaErrorKind
{
    FileNotFound,
    EmptyFile,
    NotMedia,
    NoVideoStream,
    ZeroDuration,
    Truncated,
    AbsurdDimensions,
    TooFewFrames,
    BadEmbeddings,
    /// <summary>ffmpeg/ffprobe not installed: an environment problem, not the file's.</summary>
    ToolMissing,
    /// <summary>ffmpeg failed for a reason not attributable to the input (may succeed on retry).</summary>
    ToolFailed,
    EncoderFailed,
    /// <summary>ffprobe/ffmpeg ran past its time limit and was killed (a hung decode, or a machine too loaded: may succeed on retry).</summary>
    TimedOut,
    /// <summary>The container declares a duration beyond <see cref="SegmentationOptions.MaxDurationSeconds"/>.</summary>
    TooLong,
    /// <summary>A source registered in place changed after its registration (another ETag): its content is not what was registered.</summary>
    SourceChanged,
    /// <summary>Storage denied reading a source registered in place, or the silos have no credentials for its store.</summary>
    SourceDenied,
}

/// <summary>A clear, named error for one input. Never thrown for anything but that input.</summary>
public sealed class MediaException(string input, MediaErrorKind kind, string problem, Exception? inner = null)
    : Exception($"{input}: {problem} ({kind})", inner)
{
    public string Input { get; } = input;
    public MediaErrorKind Kind { get; } = kind;
    public string Problem { get; } = problem;

    /// <summary>True when retrying the same input cannot help (corrupt, not a video, ...).</summary>
    public bool IsPermanent => Kind is not (MediaErrorKind.ToolMissing or MediaErrorKind.ToolFailed or MediaErrorKind.TimedOut);
}

/// <summary>What ffprobe says about a video file.</summary>
public sealed record VideoInfo(double DurationSeconds, double FrameRate, int Width, int Height, string Codec, long SizeBytes)
{
    /// <summary>Frames in the video stream when the container says (null when unknown).</summary>
    public long? FrameCount { get; init; }
    /// <summary>ffprobe's container format name ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...).</summary>
    public string? FormatName { get; init; }
    public bool HasAudio { get; init; }
}

/// <summary>One segment of a video: [StartSeconds, EndSeconds), Index from 0.</summary>
public sealed record SegmentSpan(int Index, double StartSeconds, double EndSeconds)
{
    public double DurationSeconds => EndSeconds - StartSeconds;
}

public sealed record SegmentationOptions
{
    /// <summary>Segment length (the method's 5 s).</summary>
    public double SegmentSeconds { get; init; } = 5.0;
    /// <summary>The last partial segment is kept only if at least this long.</summary>
    public double MinLastSegmentSeconds { get; init; } = 1.0;
    /// <summary>Frames sampled per segment; null = the encoder's default.</summary>
    public int? FramesPerSegment { get; init; }
    /// <summary>Longest video embedded (24 h): a container that declares more is refused before anything is allocated for it.</summary>
    public double MaxDurationSeconds { get; init; } = 24 * 3600;
    /// <summary>
    /// A video that decodes for less of its declared duration than this (cut short, corrupt) fails as Truncated; one that
    /// decodes for more is embedded up to where decoding stopped and marked with a <see cref="Truncation"/>.
    /// </summary>
    public double MinDecodableFraction { get; init; } = 0.5;
}

/// <summary>A video whose frames stop before its declared duration ends (a file cut short): what was embedded covers <see cref="DecodableSeconds"/>.</summary>
public sealed record Truncation(double DeclaredSeconds, double DecodableSeconds)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public double MissingSeconds => DeclaredSeconds - DecodableSeconds;

    /// <summary>"truncated: 37.2 of 60.0 s decodable".</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Warning => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"truncated: {DecodableSeconds:0.0} of {DeclaredSeconds:0.0} s decodable");
}

/// <summary>
/// A frozen short-video encoder: frames of one segment in, one embedding out.
/// Implementations in this project are safe to call from several threads at once (ONNX Runtime sessions
/// are thread-safe for Run; the builtin encoder is a pure function); each call still uses the cores the
/// encoder was configured with, so bound the number of concurrent jobs per machine.
/// </summary>
public interface ISegmentEncoder : IDisposable
{
    /// <summary>"resnet18", "builtin", "model:&lt;file name&gt;", ...: recorded with every embedding.</summary>
    string Name { get; }
    /// <summary>Changes whenever the encoder's outputs would change (weights, preprocessing).</summary>
    string Version { get; }
    int Dimension { get; }
    /// <summary>"cpu", "cuda:0", ...</summary>
    string Device { get; }
    /// <summary>Side of the square RGB frames this encoder wants (224 for ResNet, 32 for builtin).</summary>
    int FrameSize { get; }
    /// <summary>Frames sampled per segment when <see cref="SegmentationOptions.FramesPerSegment"/> is null.</summary>
    int DefaultFramesPerSegment { get; }
    /// <summary>
    /// Most frames one inference call takes (1 = the model is fixed at batch 1); the embedder hands the encoder as many
    /// decoded segments as fit (never waiting for more), and the encoder batches their frames.
    /// </summary>
    int MaxBatchFrames { get; }
    /// <summary>
    /// Embeds each segment: returns row-major [segments.Count, Dimension]. Every <see cref="SegmentFrames"/>
    /// must hold frames of <see cref="FrameSize"/>. Throws <see cref="MediaException"/> (EncoderFailed) on model errors.
    /// </summary>
    float[] Encode(IReadOnlyList<SegmentFrames> segments);
}

/// <summary>
/// The sampled frames of one segment: <see cref="Count"/> RGB24 frames of <see cref="Size"/> x <see cref="Size"/>,
/// interleaved (HWC, row-major) and stored one after another in <see cref="Rgb"/>.
/// <see cref="FrameTimes"/> holds each frame's presentation time in seconds from the start of the video.
/// </summary>
public sealed record SegmentFrames(SegmentSpan Segment, int Size, int Count, byte[] Rgb, double[] FrameTimes)
{
    public int FrameBytes => Size * Size * 3;

    /// <summary>Frame <paramref name="index"/> as interleaved RGB24 bytes.</summary>
    public ReadOnlySpan<byte> Frame(int index) => Rgb.AsSpan(index * FrameBytes, FrameBytes);
}

/// <summary>A video's segment embeddings: row i of <see cref="Embeddings"/> (row-major [N, Dimension]) belongs to Segments[i].</summary>
public sealed record EmbeddedVideo(
    VideoInfo Info,
    IReadOnlyList<SegmentSpan> Segments,
    float[] Embeddings,
    int Dimension,
    string EncoderName,
    string EncoderVersion)
{
    /// <summary>Frames sampled per segment (what the encoder saw).</summary>
    public int FramesPerSegment { get; init; }
    /// <summary>Side of the square frames fed to the encoder.</summary>
    public int FrameSize { get; init; }
    /// <summary>The segmentation used (segment length, minimum last segment).</summary>
    public SegmentationOptions? Segmentation { get; init; }
    /// <summary>Set when frames stopped before the declared duration: <see cref="Segments"/> then end where decoding did.</summary>
    public Truncation? Truncation { get; init; }

    /// <summary>The serialisable record stored as segments.json next to the embeddings.</summary>
    public SegmentsDocument ToDocument(string? videoId = null, string? contentSha256 = null) => SegmentsDocument.From(this, videoId, contentSha256);
}
