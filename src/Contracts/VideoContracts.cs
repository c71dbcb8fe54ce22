namespace LvMae.Contracts;

/// <summary>Where a video is in its life: Registered -> Probed -> Segmented -> Embedded, or Failed.</summary>
[GenerateSerializer, Alias("lvmae.VideoStage")]
public enum VideoStage
{
    Registered = 0,
    Probed = 1,
    Segmented = 2,
    Embedded = 3,
    Failed = 4,
}

/// <summary>What a registered video's embeddings come from.</summary>
[GenerateSerializer, Alias("lvmae.VideoSourceKind")]
public enum VideoSourceKind
{
    /// <summary>A video file in blob storage: probe, segment and encode it.</summary>
    VideoFile = 0,
    /// <summary>Precomputed float32 [N, d] .npy already uploaded to the embeddings blob: validate and index it.</summary>
    Embeddings = 1,
}

/// <summary>Registration of one video (id = content hash, chosen by the client). Registering twice is a no-op.</summary>
[GenerateSerializer, Alias("lvmae.VideoRegistration")]
public sealed record VideoRegistration
{
    [Id(0)] public VideoSourceKind Kind { get; init; } = VideoSourceKind.VideoFile;
    /// <summary>Blob name of the source (videos/&lt;id&gt;/source.&lt;ext&gt;, or the .npy for imports).</summary>
    [Id(1)] public required string SourceBlob { get; init; }
    /// <summary>Encoder spec: builtin | resnet18 | model:&lt;file&gt; (imports: a free name such as "imported").</summary>
    [Id(2)] public required string Encoder { get; init; }
    [Id(3)] public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>The file name the user ingested (display only).</summary>
    [Id(4)] public string? OriginalName { get; init; }
    [Id(5)] public long SizeBytes { get; init; }
    /// <summary>SHA-256 (hex) of the source content.</summary>
    [Id(6)] public string? ContentHash { get; init; }
    /// <summary>
    /// A small import's .npy itself (at most <see cref="MaxInlineContentBytes"/>): the silo validates it in memory and stores it
    /// at <see cref="SourceBlob"/>, so the client never touches storage and nothing invalid is ever stored. Null: the client
    /// uploaded the source first.
    /// </summary>
    [Id(7)] public byte[]? Content { get; init; }
    /// <summary>
    /// A video registered in place: its source blob stays where it is (a container of the cluster's storage account or of
    /// another one), and the silo reads it there; <see cref="SourceBlob"/> is then only its display name. Null: the source
    /// is at <see cref="SourceBlob"/> in the data container.
    /// </summary>
    [Id(8)] public BlobSource? InPlace { get; init; }
    /// <summary>
    /// For a video registered in place whose source blob changed since (another ETag): embed the new content (true) instead of
    /// refusing the registration. The video keeps its id; its earlier embeddings are replaced when the new ones are written.
    /// </summary>
    [Id(9)] public bool ReplaceChangedSource { get; init; }

    /// <summary>Largest <see cref="Content"/> a registration may carry (larger imports are uploaded by the client).</summary>
    public const int MaxInlineContentBytes = 1 << 20;
}

/// <summary>
/// A source blob registered in place: where it is and which content was registered. The ETag is what makes the content: the
/// silo reads the blob only if it still has it, so a blob changed or replaced since registration fails the video
/// (<see cref="VideoFailure.SourceChangedKind"/>) instead of embedding other content under the same id.
/// </summary>
[GenerateSerializer, Alias("lvmae.BlobSource")]
public sealed record BlobSource
{
    /// <summary>"" (the cluster's own storage account), or the key of a source store (<see cref="ISourceStoreGrain"/>) that holds the credentials of another account's container.</summary>
    [Id(0)] public string Store { get; init; } = "";
    /// <summary>The storage account's name (the video id is derived from account, container and blob name).</summary>
    [Id(1)] public required string Account { get; init; }
    [Id(2)] public required string Container { get; init; }
    [Id(3)] public required string Blob { get; init; }
    /// <summary>The blob's ETag when it was registered.</summary>
    [Id(4)] public required string ETag { get; init; }
    [Id(5)] public long Length { get; init; }
    [Id(6)] public DateTimeOffset? LastModified { get; init; }
    /// <summary>Content-MD5 (base64) when the blob has one (display and audit only; the ETag decides).</summary>
    [Id(7)] public string? ContentMd5 { get; init; }

    /// <summary>"container/blob" (with "account:" when another account's).</summary>
    public override string ToString() => Store.Length == 0 ? $"{Container}/{Blob}" : $"{Account}:{Container}/{Blob}";
}

/// <summary>Why a video failed.</summary>
[GenerateSerializer, Alias("lvmae.VideoFailure")]
public sealed record VideoFailure
{
    /// <summary>The kind of a video whose source file or blob does not exist (MediaErrorKind.FileNotFound).</summary>
    public const string SourceMissingKind = "FileNotFound";
    /// <summary>The kind of a video registered in place whose source blob changed after it was registered (MediaErrorKind.SourceChanged).</summary>
    public const string SourceChangedKind = "SourceChanged";

    /// <summary>MediaErrorKind name (NotMedia, Truncated, ...), Storage, Timeout or Internal.</summary>
    [Id(0)] public required string Kind { get; init; }
    [Id(1)] public required string Message { get; init; }
    /// <summary>True when retrying the same input cannot help.</summary>
    [Id(2)] public bool Permanent { get; init; }
    [Id(3)] public DateTimeOffset At { get; init; }
}

/// <summary>What ffprobe said about the video file (its <see cref="VideoStatus.Probe"/>). The alias is the type's former
/// name, VideoProbe: serialized states and messages keep reading.</summary>
[GenerateSerializer, Alias("lvmae.VideoProbe")]
public sealed record VideoFileInfo
{
    [Id(0)] public double DurationSeconds { get; init; }
    [Id(1)] public double FrameRate { get; init; }
    [Id(2)] public int Width { get; init; }
    [Id(3)] public int Height { get; init; }
    [Id(4)] public string Codec { get; init; } = "";
}

/// <summary>A video's status, as grain, API and CLI report it.</summary>
[GenerateSerializer, Alias("lvmae.VideoStatus")]
public sealed record VideoStatus
{
    [Id(0)] public required string Id { get; init; }
    /// <summary>False when no video with this id was ever registered.</summary>
    [Id(1)] public bool Exists { get; init; }
    [Id(2)] public VideoStage Stage { get; init; }
    [Id(3)] public string? Encoder { get; init; }
    [Id(4)] public IReadOnlyList<string> Labels { get; init; } = [];
    [Id(5)] public string? OriginalName { get; init; }
    [Id(6)] public VideoSourceKind Kind { get; init; }
    /// <summary>Work is running or queued in this activation (ffmpeg/encoder or a retry back-off).</summary>
    [Id(7)] public bool Working { get; init; }
    /// <summary>Waiting for a per-silo job slot.</summary>
    [Id(8)] public bool Queued { get; init; }
    /// <summary>0..1 within the current stage's work (encoding), 1 when Embedded.</summary>
    [Id(9)] public double Progress { get; init; }
    [Id(10)] public int Attempts { get; init; }
    [Id(11)] public VideoFailure? Failure { get; init; }
    [Id(12)] public VideoFileInfo? Probe { get; init; }
    [Id(13)] public int SegmentCount { get; init; }
    [Id(14)] public int Dimension { get; init; }
    [Id(15)] public string? EmbeddingsBlob { get; init; }
    [Id(16)] public string? SegmentsBlob { get; init; }
    [Id(17)] public IReadOnlyList<string> EmbeddedEncoders { get; init; } = [];
    [Id(18)] public DateTimeOffset? RegisteredAt { get; init; }
    [Id(19)] public DateTimeOffset? UpdatedAt { get; init; }
    [Id(20)] public DateTimeOffset? CompletedAt { get; init; }
    [Id(21)] public string? EncoderVersion { get; init; }
    [Id(22)] public string? SourceBlob { get; init; }
    /// <summary>Something the user should know about a video that still embedded (e.g. part of it could not be decoded).</summary>
    [Id(23)] public string? Warning { get; init; }
    /// <summary>
    /// The video has a change storage does not hold yet (a write in flight, or one waiting for storage to answer). Everything
    /// else in this status is what storage holds: a stage is reported only once it is persisted.
    /// </summary>
    [Id(24)] public bool Saving { get; init; }
    /// <summary>Where the source of a video registered in place lives (null: uploaded into the data container).</summary>
    [Id(25)] public BlobSource? InPlace { get; init; }

    public bool IsTerminal => Exists && Stage is VideoStage.Embedded or VideoStage.Failed;
}

/// <summary>
/// One video: its persisted state machine. Registering records the video (state + index entry) and returns; the work is
/// started by the video's index shard, a bounded number of videos at a time (<see cref="Process"/>), so registering a
/// corpus queues it instead of starting every download at once.
/// </summary>
[Alias("lvmae.IVideoGrain")]
public interface IVideoGrain : IGrainWithStringKey
{
    /// <summary>Registers (idempotent: labels merge, a new encoder re-processes) and returns once state and index entry are durable.</summary>
    [Alias("Register")] Task<VideoStatus> Register(VideoRegistration registration);
    /// <summary>What storage holds (and whether a change is being saved); interleaves, so a pending write never delays it.</summary>
    [Alias("GetStatus"), Orleans.Concurrency.AlwaysInterleave] Task<VideoStatus> GetStatus();
    /// <summary>Failed -> back to the last good stage (attempts reset) and queued again. Otherwise a no-op.</summary>
    [Alias("Retry")] Task<VideoStatus> Retry();
    /// <summary>
    /// Called by the index shard that dispatches work: starts (or continues) the unfinished work in this activation; for a
    /// finished video, makes sure the index has its final entry. Idempotent.
    /// </summary>
    [Alias("Process")] Task<VideoStatus> Process();
    /// <summary>
    /// Called by the index shard after a storage outage when the video's entry disagreed with its persisted state: reads the
    /// state from storage again (unless a write of its own is pending, which resolves itself) and goes on from it as
    /// <see cref="Process"/> does.
    /// </summary>
    [Alias("Recheck")] Task<VideoStatus> Recheck();
}
