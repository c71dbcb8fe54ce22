using System.Security.Cryptography;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Storage;

namespace LvMae.Grains;

/// <summary>What a registration does to a video, given what storage holds for it (<see cref="RegistrationDecision.Decide"/>).</summary>
public enum RegistrationOutcome
{
    /// <summary>No video under this id yet: record it.</summary>
    New,
    /// <summary>The same video again (same encoder and content), or any registration while its work runs with the same encoder: labels merged, nothing else changes.</summary>
    Unchanged,
    /// <summary>A new encoder for a video whose work is not running, or new content for a failed import: processed again (earlier embeddings stay).</summary>
    Reprocess,
    /// <summary>Another encoder while the work runs: labels merged, then refused (register it when the work is done).</summary>
    Busy,
    /// <summary>An import with other content under an id that holds a live import: refused, nothing changes (it needs another id).</summary>
    Conflict,
}

/// <summary>
/// The registration rules as a pure decision: <see cref="Validate"/> checks the registration on its own, <see cref="Decide"/>
/// compares it with the stored state, <see cref="NewState"/> and <see cref="ApplyTo"/> give the state to save. The grain only
/// commits what this says.
/// </summary>
public sealed record RegistrationDecision(RegistrationOutcome Outcome, List<string> Labels, bool LabelsChanged, bool ImportNow, string? Problem)
{
    /// <summary>Labels per video at most (each at most <see cref="LabelRules.MaxLength"/> characters): they live in the index too.</summary>
    public const int MaxLabels = 64;

    /// <summary>Stored imports up to this size are validated inside Register (a few ms); larger ones are queued like videos.</summary>
    public const long InlineImportBytes = 4 << 20;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> for a registration no state could accept (id, encoder spec, source, labels, carried
    /// content). Returns it with the hash and size of carried content filled in from the bytes themselves.
    /// </summary>
    public static VideoRegistration Validate(string id, VideoRegistration registration, ProcessingOptions options)
    {
        BlobLayout.ValidateId(id, "video id");
        BlobLayout.EncoderFileName(registration.Encoder); // throws ArgumentException for an unusable encoder spec
        if (registration.Kind == VideoSourceKind.VideoFile) EncoderSpecs.Resolve(registration.Encoder, options); // a model file outside the model folder is refused here
        ArgumentException.ThrowIfNullOrWhiteSpace(registration.SourceBlob);
        if (registration.Labels.Count > MaxLabels) throw new ArgumentException($"video {id}: {registration.Labels.Count} labels (at most {MaxLabels})");
        foreach (var label in registration.Labels)
            if (LabelRules.Problem(label) is { } problem) throw new ArgumentException($"video {id}: {problem}");
        if (registration.InPlace is { } source) CheckInPlace(id, registration, source);
        return registration.Content is { } carried ? CheckCarriedContent(id, registration, carried) : registration;
    }

    /// <summary>A source registered in place: a video file, no carried content, a usable container, blob name and ETag.</summary>
    private static void CheckInPlace(string id, VideoRegistration registration, BlobSource source)
    {
        if (registration.Kind != VideoSourceKind.VideoFile || registration.Content is not null)
            throw new ArgumentException($"video {id}: only video files are registered in place");
        if (!BlobLayout.IsValidContainerName(source.Container)) throw new ArgumentException($"video {id}: source container '{source.Container}' is not a valid container name");
        if (string.IsNullOrWhiteSpace(source.Blob) || source.Blob.Length > 1024 || source.Blob.Any(char.IsControl))
            throw new ArgumentException($"video {id}: source blob name '{source.Blob}' is not a usable blob name");
        ArgumentException.ThrowIfNullOrWhiteSpace(source.ETag);
        ArgumentException.ThrowIfNullOrWhiteSpace(source.Account);
    }

    /// <summary>An import whose bytes came with its registration: their hash and size must be what the registration says.</summary>
    private static VideoRegistration CheckCarriedContent(string id, VideoRegistration registration, byte[] content)
    {
        if (registration.Kind != VideoSourceKind.Embeddings)
            throw new ArgumentException($"video {id}: only embeddings imports may carry their content in the registration");
        if (content.Length > VideoRegistration.MaxInlineContentBytes)
            throw new ArgumentException($"video {id}: {content.Length} bytes of content in the registration (at most {VideoRegistration.MaxInlineContentBytes}; upload larger imports first)");
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        if (registration.ContentHash is { } claimed && !string.Equals(claimed, sha, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"video {id}: the registration's content has sha256 {sha[..12]}, not the {claimed[..Math.Min(12, claimed.Length)]} it claims");
        return registration with { ContentHash = sha, SizeBytes = content.Length };
    }

    /// <summary>
    /// The rules, for a <see cref="Validate"/>d registration. <paramref name="stored"/>: the video's state (null: none);
    /// <paramref name="working"/>: its work is running in this activation.
    /// </summary>
    public static RegistrationDecision Decide(string id, VideoState? stored, VideoRegistration registration, bool working)
    {
        if (stored is null)
            return new(RegistrationOutcome.New, registration.Labels.Distinct().ToList(), false, ImportsWithinRegistration(registration), null);

        if (registration.Kind == VideoSourceKind.Embeddings && stored.ContentHash is { } known && registration.ContentHash is { } offered
            && known != offered && stored.Stage != VideoStage.Failed)
            return new(RegistrationOutcome.Conflict, stored.Labels, false, false,
                $"video id '{id}' is already registered from '{stored.OriginalName}' with other content (sha256 {known[..12]}); " +
                $"'{registration.OriginalName}' (sha256 {offered[..Math.Min(12, offered.Length)]}) needs another id: rename the file");

        var labels = stored.Labels.Union(registration.Labels).ToList();
        var changed = labels.Count != stored.Labels.Count;
        if (SourceChanged(stored, registration) is { } was)
        {
            // Never a silent re-embed of other content under the same id: only when asked, and not while work on the old runs.
            if (!registration.ReplaceChangedSource)
                return new(RegistrationOutcome.Conflict, stored.Labels, false, false,
                    $"source blob {was} changed since it was registered (ETag {was.ETag} then, {registration.InPlace!.ETag} now); " +
                    "the video keeps what it has; ingest again with --reembed-changed to embed the new content");
            if (working)
                return new(RegistrationOutcome.Busy, labels, changed, false, $"video {id} is still being processed from the earlier content of {was}; register the new content when it is done");
            return new(RegistrationOutcome.Reprocess, labels, changed, false, null);
        }
        var sameEncoder = string.Equals(stored.Encoder, registration.Encoder, StringComparison.Ordinal);
        var sameContent = registration.ContentHash is null || registration.ContentHash == stored.ContentHash;
        if (sameEncoder && (sameContent || working)) return new(RegistrationOutcome.Unchanged, labels, changed, false, null);
        if (working)
            return new(RegistrationOutcome.Busy, labels, changed, false,
                $"video {id} is still being processed with encoder {stored.Encoder}; register {registration.Encoder} when it is done");
        // Carried content is imported at once; an uploaded one waits in the queue (only a new video's is checked inline).
        return new(RegistrationOutcome.Reprocess, labels, changed, registration.Content is not null, null);
    }

    /// <summary>The registered source, when a registration in place offers the same blob with another ETag (null otherwise).</summary>
    private static BlobSource? SourceChanged(VideoState stored, VideoRegistration registration) =>
        stored.InPlace is { } known && registration.InPlace is { } offered && known.ETag != offered.ETag ? known : null;

    /// <summary>
    /// A new video is imported within its registration when its bytes came with it, or when it is an uploaded import small
    /// enough to validate now: one state write (Embedded or Failed) instead of two and no trip through the queue.
    /// </summary>
    private static bool ImportsWithinRegistration(VideoRegistration registration) =>
        registration.Content is not null
        || (registration.Kind == VideoSourceKind.Embeddings && registration.SizeBytes is > 0 and <= InlineImportBytes);

    /// <summary>The state of a <see cref="RegistrationOutcome.New"/> video (version 0: its first commit makes it 1).</summary>
    public VideoState NewState(VideoRegistration registration, DateTimeOffset now) => new()
    {
        Stage = VideoStage.Registered,
        Kind = registration.Kind,
        SourceBlob = registration.SourceBlob,
        InPlace = registration.InPlace,
        Encoder = registration.Encoder,
        Labels = Labels,
        OriginalName = registration.OriginalName,
        SizeBytes = registration.SizeBytes,
        ContentHash = registration.ContentHash,
        RegisteredAt = now,
        UpdatedAt = now,
        Version = 0,
    };

    /// <summary>Applies an <see cref="RegistrationOutcome.Unchanged"/>, <see cref="RegistrationOutcome.Busy"/> or <see cref="RegistrationOutcome.Reprocess"/> decision to the stored state.</summary>
    public void ApplyTo(VideoState video, VideoRegistration registration)
    {
        video.Labels = Labels;
        if (Outcome != RegistrationOutcome.Reprocess) return;
        video.Encoder = registration.Encoder;
        video.Kind = registration.Kind;
        video.SourceBlob = registration.SourceBlob;
        // New content in place: its hash is taken when the silo reads it (the old one described other bytes).
        if (registration.InPlace is { } source && video.InPlace?.ETag != source.ETag) video.ContentHash = null;
        video.InPlace = registration.InPlace ?? video.InPlace;
        video.ContentHash = registration.ContentHash ?? video.ContentHash;
        video.OriginalName = registration.OriginalName ?? video.OriginalName;
        video.SizeBytes = registration.SizeBytes;
        video.Restart(VideoStage.Registered);
    }
}
