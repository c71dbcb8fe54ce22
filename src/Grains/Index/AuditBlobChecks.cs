using System.Globalization;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains.Index;

/// <summary>The audit's data-blob check of an embedded video (<see cref="AuditRequest.Blobs"/>), over what was read: pure.</summary>
public static class AuditBlobChecks
{
    /// <summary>
    /// What is wrong with an embedded video's blobs: its embeddings blob (<paramref name="embeddings"/>, null when missing or
    /// none recorded) must agree with its state (content hash, rows, dimension, and for a video file the encoder spec); a video
    /// file also needs segments.json (<paramref name="segmentsMissing"/>). Empty when all is well.
    /// </summary>
    public static List<string> Problems(VideoState s, BlobEntry? embeddings, bool segmentsMissing)
    {
        var problems = new List<string>();
        if (embeddings is not { } blob) problems.Add($"embeddings blob {s.EmbeddingsBlob ?? "(none recorded)"} is missing");
        else
        {
            string? Meta(string key) => blob.Metadata.GetValueOrDefault(key);
            if (s.EmbeddingsSha256 is { } sha && Meta("sha256") != sha) problems.Add($"{blob.Name} holds other content (sha256 {Meta("sha256") ?? "none"}) than the state recorded ({sha})");
            if (Meta("rows") is { } rows && rows != s.SegmentCount.ToString(CultureInfo.InvariantCulture)) problems.Add($"{blob.Name} has {rows} rows, the state {s.SegmentCount} segments");
            if (Meta("dimension") is { } dim && dim != s.Dimension.ToString(CultureInfo.InvariantCulture)) problems.Add($"{blob.Name} has dimension {dim}, the state {s.Dimension}");
            if (s.Kind == VideoSourceKind.VideoFile && Meta("encoderspec") is { } spec && spec != s.Encoder) problems.Add($"{blob.Name} was made by encoder {spec}, the state says {s.Encoder}");
        }
        if (segmentsMissing) problems.Add("segments.json is missing");
        return problems;
    }
}
