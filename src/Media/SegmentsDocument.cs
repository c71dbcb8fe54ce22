using System.Text.Json;
using System.Text.Json.Serialization;

namespace LvMae.Media;

/// <summary>
/// What is stored as videos/&lt;id&gt;/segments.json: the probe, the segment boundaries and how the embeddings were made.
/// Row i of the embeddings .npy belongs to Segments[i].
/// </summary>
public sealed record SegmentsDocument
{
    public const int CurrentSchema = 1;

    public int Schema { get; init; } = CurrentSchema;
    public string? VideoId { get; init; }
    public string? ContentSha256 { get; init; }
    public required VideoInfo Info { get; init; }
    public required IReadOnlyList<SegmentSpan> Segments { get; init; }
    public double SegmentSeconds { get; init; } = 5.0;
    public double MinLastSegmentSeconds { get; init; } = 1.0;
    public required string EncoderName { get; init; }
    public required string EncoderVersion { get; init; }
    public int Dimension { get; init; }
    public int FramesPerSegment { get; init; }
    public int FrameSize { get; init; }
    /// <summary>Set when the video decodes for less than its declared duration (see <see cref="Media.Truncation"/>).</summary>
    public Truncation? Truncation { get; init; }
    /// <summary>A line for people reading the blob: "truncated: 37.2 of 60.0 s decodable"; null when all is well.</summary>
    public string? Warning { get; init; }
    public DateTimeOffset CreatedUtc { get; init; } = DateTimeOffset.UtcNow;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static SegmentsDocument From(EmbeddedVideo video, string? videoId = null, string? contentSha256 = null) => new()
    {
        VideoId = videoId,
        ContentSha256 = contentSha256,
        Info = video.Info,
        Segments = video.Segments,
        SegmentSeconds = video.Segmentation?.SegmentSeconds ?? 5.0,
        MinLastSegmentSeconds = video.Segmentation?.MinLastSegmentSeconds ?? 1.0,
        EncoderName = video.EncoderName,
        EncoderVersion = video.EncoderVersion,
        Dimension = video.Dimension,
        FramesPerSegment = video.FramesPerSegment,
        FrameSize = video.FrameSize,
        Truncation = video.Truncation,
        Warning = video.Truncation?.Warning,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static SegmentsDocument FromJson(string json) =>
        JsonSerializer.Deserialize<SegmentsDocument>(json, Json) ?? throw new JsonException("segments.json is empty");
}
