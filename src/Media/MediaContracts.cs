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
}

/// <summary>A clear, named error for one input. Never thrown for anything but that input.</summary>
public sealed class MediaException(string input, MediaErrorKind kind, string problem, Exception? inner = null)
    : Exception($"{input}: {problem} ({kind})", inner)
{
    public string Input { get; } = input;
    public MediaErrorKind Kind { get; } = kind;
    public string Problem { get; } = problem;

    /// <summary>True when retrying the same input cannot help (corrupt, not a video, ...).</summary>
    public bool IsPermanent => Kind is not (MediaErrorKind.ToolMissing or MediaErrorKind.ToolFailed);
}

/// <summary>What ffprobe says about a video file.</summary>
public sealed record VideoInfo(double DurationSeconds, double FrameRate, int Width, int Height, string Codec, long SizeBytes);

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
}

/// <summary>A frozen short-video encoder: frames of one segment in, one embedding out.</summary>
public interface ISegmentEncoder : IDisposable
{
    /// <summary>"resnet18", "builtin", "model:&lt;file name&gt;", ...: recorded with every embedding.</summary>
    string Name { get; }
    /// <summary>Changes whenever the encoder's outputs would change (weights, preprocessing).</summary>
    string Version { get; }
    int Dimension { get; }
    /// <summary>"cpu", "cuda:0", ...</summary>
    string Device { get; }
}

/// <summary>A video's segment embeddings: row i of <see cref="Embeddings"/> (row-major [N, Dimension]) belongs to Segments[i].</summary>
public sealed record EmbeddedVideo(
    VideoInfo Info,
    IReadOnlyList<SegmentSpan> Segments,
    float[] Embeddings,
    int Dimension,
    string EncoderName,
    string EncoderVersion);
