using LvMae.Contracts;

namespace LvMae.Grains;

/// <summary>A video grain's persisted state (small: the data lives in its own blobs). JSON in &lt;container&gt;-state/state-lvmae.video/&lt;id&gt;.json (Orleans' Azure Blob grain storage).</summary>
public sealed class VideoState
{
    public VideoStage Stage { get; set; }
    public VideoSourceKind Kind { get; set; }
    public string? SourceBlob { get; set; }
    /// <summary>A video registered in place: its source blob where it is (omitted from the JSON when null, so other states keep their bytes).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public BlobSource? InPlace { get; set; }
    public string? Encoder { get; set; }
    public string? EncoderVersion { get; set; }
    public List<string> Labels { get; set; } = [];
    public string? OriginalName { get; set; }
    public long SizeBytes { get; set; }
    public string? ContentHash { get; set; }
    public VideoFileInfo? Probe { get; set; }
    public int SegmentCount { get; set; }
    public int Dimension { get; set; }
    public string? EmbeddingsBlob { get; set; }
    /// <summary>SHA-256 of the embeddings blob's content (also in its metadata): what `lvmae verify` checks the blob against.</summary>
    public string? EmbeddingsSha256 { get; set; }
    /// <summary>Something the user should know about a video that still embedded (e.g. truncated: part of it undecodable).</summary>
    public string? Warning { get; set; }
    public List<string> EmbeddedEncoders { get; set; } = [];
    /// <summary>Work attempts since registration (or the last retry); persisted before each attempt starts.</summary>
    public int Attempts { get; set; }
    public VideoFailure? Failure { get; set; }
    public DateTimeOffset? RegisteredAt { get; set; }
    public DateTimeOffset? UpdatedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    /// <summary>Incremented on each transition; orders index updates.</summary>
    public long Version { get; set; }

    /// <summary>Back to <paramref name="stage"/> with a clean slate: no failure, no attempts, not completed (a retry or a re-registration).</summary>
    public void Restart(VideoStage stage)
    {
        Stage = stage;
        Failure = null;
        Attempts = 0;
        CompletedAt = null;
    }

    /// <summary>The one place a video becomes Embedded: the embeddings it points to, its encoder among those embedded, completed now.</summary>
    public void MarkEmbedded(Embedding embedding)
    {
        Stage = VideoStage.Embedded;
        EmbeddingsBlob = embedding.Blob;
        EmbeddingsSha256 = embedding.Sha256;
        SegmentCount = embedding.Rows;
        Dimension = embedding.Dimension;
        EncoderVersion = embedding.Version;
        if (!EmbeddedEncoders.Contains(Encoder!)) EmbeddedEncoders.Add(Encoder!);
        CompletedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>The one place a video becomes Failed: stage, failure and completion time together.</summary>
    public void MarkFailed(string kind, string message, bool permanent)
    {
        var now = DateTimeOffset.UtcNow;
        Stage = VideoStage.Failed;
        Failure = new VideoFailure { Kind = kind, Message = message, Permanent = permanent, At = now };
        CompletedAt = now;
    }

    /// <summary>A deep copy, through the JSON storage writes (so it is exactly what a write of this state would hold).</summary>
    public VideoState Clone() =>
        System.Text.Json.JsonSerializer.Deserialize<VideoState>(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(this, GrainStateJson.Options), GrainStateJson.Options)!;
}
