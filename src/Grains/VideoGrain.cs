using System.Security.Cryptography;
using Azure;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Media;
using LvMae.Pipeline.Telemetry;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace LvMae.Grains;

/// <summary>
/// One video (key = video id): a persisted state machine Registered -> Probed -> Segmented -> Embedded (or Failed).
/// <see cref="Register"/> records the video (state, then index entry) and returns; the video's index shard starts the work
/// when there is room (<see cref="Process"/>), and the work runs in this grain's background: it takes a per-silo job slot
/// before downloading anything, writes data blobs first and the state that points to them second (ETag-guarded), and
/// publishes every transition to the index. A video's final state always reaches the index: the shard keeps asking
/// (<see cref="Process"/>) until it sees it. Storage outages are waited out, never turned into failures.
/// </summary>
[GrainType("lvmae.video")]
[Orleans.Placement.RandomPlacement] // spread the work over the silos (each bounds its own jobs)
[CollectionAgeLimit(Minutes = 2)] // a corpus of finished videos should not stay in memory
public sealed class VideoGrain(
    [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<VideoState> state,
    BlobStore blobs,
    IMediaWork media,
    MediaJobLimiter limiter,
    ScratchSpace scratch,
    IndexLayout layout,
    IOptions<ProcessingOptions> options,
    ILogger<VideoGrain> logger) : Grain, IVideoGrain
{
    private readonly ProcessingOptions _options = options.Value;
    private CancellationTokenSource? _cts;
    private Task? _work;
    private double _progress;
    private volatile bool _queued;
    /// <summary>The state version the index is known to hold (a failed publish is retried until it does).</summary>
    private long _indexedVersion = -1;
    /// <summary>The in-memory state has a change storage may not hold (a write in flight, failed, or unanswered).</summary>
    private bool _unsaved;
    /// <summary>Segments of an embedding not yet counted in the metrics (counted once its state is saved).</summary>
    private int? _segmentsToCount;
    private bool _registrationToCount;
    /// <summary>
    /// A copy of the state as storage holds it (null: no record): the only state <see cref="Status"/> reports, so "Embedded"
    /// means Embedded on storage. Replaced whole after each read and each write that storage confirmed.
    /// </summary>
    private VideoState? _stored;

    private string Id => this.GetPrimaryKeyString();
    private VideoState Video => state.State;   // the persisted state (written with state.WriteStateAsync)
    private bool Finished => Video.Stage is VideoStage.Embedded or VideoStage.Failed;
    private bool Working => _work is { IsCompleted: false } && !Finished;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Stored();
        return Task.CompletedTask;
    }

    /// <summary>Records the in-memory state as what storage holds (just read or just written).</summary>
    private void Stored() => _stored = state.RecordExists ? Copy(Video) : null;

    private static VideoState Copy(VideoState s) =>
        System.Text.Json.JsonSerializer.Deserialize<VideoState>(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(s, GrainStateJson.Options), GrainStateJson.Options)!;

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_cts is null) return;
        await _cts.CancelAsync();
        if (_work is not null)
            try { await _work.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken); }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException) { }
    }

    // ---- the API ----------------------------------------------------------------------------------------------------------

    public async Task<VideoStatus> Register(VideoRegistration registration)
    {
        BlobLayout.ValidateId(Id, "video id");
        BlobLayout.EncoderFileName(registration.Encoder); // throws ArgumentException for an unusable encoder spec
        if (registration.Kind == VideoSourceKind.VideoFile) EncoderSpecs.Resolve(registration.Encoder, _options); // a model file outside the model folder is refused here
        ArgumentException.ThrowIfNullOrWhiteSpace(registration.SourceBlob);
        if (registration.Labels.Count > MaxLabels) throw new ArgumentException($"video {Id}: {registration.Labels.Count} labels (at most {MaxLabels})");
        foreach (var label in registration.Labels)
            if (LabelRules.Problem(label) is { } problem) throw new ArgumentException($"video {Id}: {problem}");
        if (registration.Content is { } carried) registration = CheckInlineContent(registration, carried);

        if (state.RecordExists)
        {
            if (registration.Kind == VideoSourceKind.Embeddings && Video.ContentHash is { } known && registration.ContentHash is { } offered
                && known != offered && Video.Stage != VideoStage.Failed)
                throw new ArgumentException($"video id '{Id}' is already registered from '{Video.OriginalName}' with other content (sha256 {known[..12]}); " +
                                            $"'{registration.OriginalName}' (sha256 {offered[..Math.Min(12, offered.Length)]}) needs another id: rename the file");
            var labels = Video.Labels.Union(registration.Labels).ToList();
            var sameEncoder = string.Equals(Video.Encoder, registration.Encoder, StringComparison.Ordinal);
            var sameContent = registration.ContentHash is null || registration.ContentHash == Video.ContentHash;
            if ((sameEncoder && sameContent) || Working)
            {
                if (labels.Count != Video.Labels.Count)
                {
                    Video.Labels = labels;
                    await CommitAsync();
                }
                if (!sameEncoder)
                    throw new InvalidOperationException($"video {Id} is still being processed with encoder {Video.Encoder}; register {registration.Encoder} when it is done");
                await EnsureIndexedAsync();
                return Status();
            }
            // A new encoder for a finished video, or new content for a failed import: process again (earlier embeddings stay).
            Video.Labels = labels;
            Video.Encoder = registration.Encoder;
            Video.Kind = registration.Kind;
            Video.SourceBlob = registration.SourceBlob;
            Video.ContentHash = registration.ContentHash ?? Video.ContentHash;
            Video.OriginalName = registration.OriginalName ?? Video.OriginalName;
            Video.SizeBytes = registration.SizeBytes;
            Restart(VideoStage.Registered);
            if (registration.Content is { } replacement)
            {
                await ImportContentAsync(replacement);
                return Finish();
            }
        }
        else
        {
            var now = DateTimeOffset.UtcNow;
            state.State = new VideoState
            {
                Stage = VideoStage.Registered,
                Kind = registration.Kind,
                SourceBlob = registration.SourceBlob,
                Encoder = registration.Encoder,
                Labels = registration.Labels.Distinct().ToList(),
                OriginalName = registration.OriginalName,
                SizeBytes = registration.SizeBytes,
                ContentHash = registration.ContentHash,
                RegisteredAt = now,
                UpdatedAt = now,
                Version = 0,
            };
            if (registration.Content is { } content)
            {
                await ImportContentAsync(content);
                return Finish();
            }
            if (await TryImportInlineAsync()) return Finish();
        }
        await CommitAsync(); // the index shard now queues it and asks it to Process when there is room
        return Status();
    }

    public Task<VideoStatus> GetStatus() => Task.FromResult(Status());

    /// <summary>
    /// An import finished within its registration (state and index written): nothing is left for this activation to do,
    /// so it goes now instead of after the collection age. Kept for minutes, a 100k import's activations outlive gen 0/1
    /// and die in gen 2, and the silo spends its CPU in background collections of a growing heap.
    /// </summary>
    private VideoStatus Finish()
    {
        DeactivateOnIdle();
        return Status();
    }

    public async Task<VideoStatus> Retry()
    {
        if (state.RecordExists && Video.Stage == VideoStage.Failed && !Working)
        {
            Restart(Video.Probe is null ? VideoStage.Registered : VideoStage.Probed);
            await CommitAsync();
        }
        return Status();
    }

    public async Task<VideoStatus> Process()
    {
        if (!state.RecordExists) return Status();
        if (_work is { IsCompleted: false }) return Status(); // the work saves and publishes what it has (an unanswered final write included)
        if (Finished)
        {
            if (_unsaved) await SaveAsync();
            await EnsureIndexedAsync();
        }
        else StartWork();
        return Status();
    }

    public async Task<VideoStatus> Recheck()
    {
        _indexedVersion = -1; // whatever the shard holds now, publish again
        if (_unsaved) return Status(); // its own pending write resolves by reading back (and reloads if storage holds another state)
        if (_work is { IsCompleted: false })
        {
            _recheck = true; // the work re-reads storage at its next attempt, or once it ends
            return Status();
        }
        await ReloadAsync();
        return await Process();
    }

    /// <summary>A re-check asked for while the work ran: storage may have lost what this activation saved (a crashed storage).</summary>
    private bool _recheck;

    private async Task ReloadAsync()
    {
        _recheck = false;
        await state.ReadStateAsync();
        Stored();
    }

    private void Restart(VideoStage stage)
    {
        Video.Stage = stage;
        Video.Failure = null;
        Video.Attempts = 0;
        Video.CompletedAt = null;
    }

    /// <summary>What storage holds (<see cref="_stored"/>), with this activation's live work and whether a change is being saved.</summary>
    private VideoStatus Status() => _stored is not { } stored
        ? new VideoStatus { Id = Id, Exists = false, Saving = _unsaved }
        : new VideoStatus
        {
            Id = Id,
            Exists = true,
            Saving = _unsaved,
            Stage = stored.Stage,
            Encoder = stored.Encoder,
            EncoderVersion = stored.EncoderVersion,
            Labels = stored.Labels.ToList(),
            OriginalName = stored.OriginalName,
            Kind = stored.Kind,
            Working = Working,
            Queued = Working && _queued,
            Progress = stored.Stage == VideoStage.Embedded ? 1.0 : Volatile.Read(ref _progress),
            Attempts = stored.Attempts,
            Failure = stored.Failure,
            Probe = stored.Probe,
            SegmentCount = stored.SegmentCount,
            Dimension = stored.Dimension,
            EmbeddingsBlob = stored.EmbeddingsBlob,
            SegmentsBlob = stored.Stage is VideoStage.Embedded && stored.Kind == VideoSourceKind.VideoFile ? BlobLayout.Segments(Id) : null,
            EmbeddedEncoders = stored.EmbeddedEncoders.ToList(),
            RegisteredAt = stored.RegisteredAt,
            UpdatedAt = stored.UpdatedAt,
            CompletedAt = stored.CompletedAt,
            SourceBlob = stored.SourceBlob,
            Warning = stored.Warning,
        };

    // ---- the background work ----------------------------------------------------------------------------------------------

    private void StartWork()
    {
        if (Working) return;
        _cts?.Dispose();
        _cts = new CancellationTokenSource();
        _work = WorkAsync(_cts.Token);
    }

    /// <summary>The work, under the video's retry policies (<see cref="VideoRetries"/>): what is left after them is a failure.</summary>
    private async Task WorkAsync(CancellationToken ct)
    {
        await Task.Yield(); // let the call that started us return first
        try
        {
            await VideoRetries.Run(Retries.Work, AttemptAsync, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (InconsistentStateException e)
        {
            // Another writer's state is on storage (read back, not ours); SaveAsync reloaded it: the index shard's next
            // Process decides again from there.
            logger.LogWarning("video {Id}: state changed elsewhere ({Message}); continuing from the stored state", Id, e.Message);
        }
        catch (Exception e)
        {
            var (kind, permanent) = Classify(e);
            var message = e is MediaException m ? m.Problem : e.Message;
            if (permanent) logger.LogInformation("video {Id}: failed ({Kind}, permanent): {Message}", Id, kind, message);
            else logger.LogWarning(e, "video {Id}: failed ({Kind}) after {Attempts} attempt(s)", Id, kind, Video.Attempts);
            try { await FailAsync(kind, message, permanent); }
            catch (Exception inner) { logger.LogError(inner, "video {Id}: could not record its failure", Id); }
        }
        finally
        {
            _queued = false;
            if (_recheck) _ = RecheckAfterWorkAsync();
        }
    }

    private async Task RecheckAfterWorkAsync()
    {
        await Task.Yield(); // after this work's task has completed, so Process may start the next
        try { await Recheck(); }
        catch (Exception e) { logger.LogWarning("video {Id}: re-reading its state after the work failed ({Message}); the shard asks again", Id, e.Message); }
    }

    private VideoRetries? _retries;
    private bool _outageRetry;
    // Imports get no media retries (their only work is validating bytes already in storage).
    private VideoRetries Retries => _retries ??= new VideoRetries(_options, () => Video.Kind == VideoSourceKind.Embeddings ? int.MaxValue : Video.Attempts, (what, e, delay) =>
    {
        // Not the video's attempt. Noted, not applied to the state: a change waiting to be saved must be written as it was
        // first sent, so that reading back can recognise it if storage applied it without answering.
        if (IsStorageOutage(e) && Video.Kind == VideoSourceKind.VideoFile) _outageRetry = true;
        logger.LogInformation("video {Id}: {What} ({Message}); trying again in {Delay}", Id, what, e is MediaException m ? m.Problem : e.Message, delay);
    });

    /// <summary>One attempt at whatever stage the video is in.</summary>
    private async Task AttemptAsync(CancellationToken ct)
    {
        // A change whose write failed or went unanswered goes to storage first (a lost answer is resolved by reading back).
        if (_unsaved) await SaveAsync();
        else if (_recheck) await ReloadAsync();
        if (Finished)
        {
            await TryPublishAsync();
            return;
        }
        if (Video.Kind == VideoSourceKind.Embeddings)
        {
            await ImportAsync(ct);
            return;
        }
        // Persisted before the attempt: a video that crashes its silo every time fails after MaxAttempts.
        if (_outageRetry) _outageRetry = false; // the attempt storage interrupted goes on: counted once
        else Video.Attempts++;
        await SaveAsync();
        await RunStagesAsync(ct);
    }

    private async Task RunStagesAsync(CancellationToken ct)
    {
        var source = Video.SourceBlob ?? throw new InvalidOperationException("no source blob registered");
        _queued = true;
        Embedded? done;
        await using (await limiter.AcquireAsync(ct))
        {
            _queued = false;
            var folder = scratch.Create(Id);
            try { done = await ProcessSourceAsync(source, Path.Combine(folder, Path.GetFileName(source)), ct); }
            finally { ScratchSpace.Release(folder); } // before the slot goes back
        }
        // The final state after slot and scratch are given back: a video the index calls Embedded holds no silo resources.
        if (done is { } d)
        {
            MarkEmbedded(d.Blob, d.Rows, d.Dimension, d.Version, d.Sha256);
            Video.Warning = d.Warning; // e.g. "truncated: 37.3 of 60.0 s decodable": embedded, but the user should know
            await TransitionAsync(VideoStage.Embedded);
        }
    }

    private sealed record Embedded(string Blob, int Rows, int Dimension, string Version, string Sha256, string? Warning);

    /// <summary>Download, probe, plan, encode and upload, from whatever stage the state is in; the embeddings written, or null.</summary>
    private async Task<Embedded?> ProcessSourceAsync(string source, string local, CancellationToken ct)
    {
        await DownloadAsync(source, local, ct);

        if (Video.Stage == VideoStage.Registered)
        {
            var probed = await Task.Run(() => media.InspectAsync(local, ct), ct);
            Video.Probe = new VideoFileInfo { DurationSeconds = probed.DurationSeconds, FrameRate = probed.FrameRate, Width = probed.Width, Height = probed.Height, Codec = probed.Codec };
            await TransitionAsync(VideoStage.Probed);
        }

        if (Video.Stage == VideoStage.Probed)
        {
            // The plan is deterministic from the duration; segments.json is written with the embeddings it indexes.
            var segments = media.Plan(Video.Probe!.DurationSeconds, _options.SegmentSeconds);
            if (segments.Count == 0)
                throw new MediaException(source, MediaErrorKind.ZeroDuration, $"a {Video.Probe.DurationSeconds:F2} s video has no {_options.SegmentSeconds} s segment");
            Video.SegmentCount = segments.Count;
            await TransitionAsync(VideoStage.Segmented);
        }

        if (Video.Stage != VideoStage.Segmented) return null;
        var encoder = Video.Encoder!;
        Volatile.Write(ref _progress, 0);
        var progress = new InlineProgress(v => Volatile.Write(ref _progress, Math.Clamp(v, 0, 1)));
        // One probe per video: the state's probe and the plan it gives, not a second ffprobe inside the encoder.
        var p = Video.Probe!;
        var info = new VideoInfo(p.DurationSeconds, p.FrameRate, p.Width, p.Height, p.Codec, Video.SizeBytes);
        var plan = media.Plan(p.DurationSeconds, _options.SegmentSeconds);
        var encoded = await Task.Run(() => media.EncodeAsync(local, info, plan, encoder, _options.SegmentSeconds, progress, ct), ct);
        var rows = encoded.Segments.Count;
        if (rows == 0 || encoded.Dimension <= 0 || encoded.Embeddings.Length != rows * encoded.Dimension)
            throw new MediaException(source, MediaErrorKind.EncoderFailed, $"encoder returned {encoded.Embeddings.Length} values for {rows} segments of dimension {encoded.Dimension}");

        // Data first: embeddings, then segments.json that indexes them; only then (the caller) the state that points to both.
        var embeddingsBlob = BlobLayout.Embeddings(Id, encoder);
        var sha = await UploadNpyAsync(embeddingsBlob, encoded.Embeddings, rows, encoded.Dimension, encoded.EncoderName, encoded.EncoderVersion, ct);
        var doc = encoded.ToDocument(Id, Video.ContentHash);
        await blobs.UploadAsync(BlobLayout.Segments(Id), System.Text.Encoding.UTF8.GetBytes(doc.ToJson()), contentType: "application/json", cancellationToken: ct);
        return new Embedded(embeddingsBlob, rows, encoded.Dimension, encoded.EncoderVersion, sha, encoded.Truncation?.Warning);
    }

    /// <summary>
    /// Precomputed embeddings: the client uploaded the .npy to the embeddings name with its SHA-256 in the blob metadata.
    /// Validated in memory (no scratch, no job slot); the state records the content it validated. An invalid file is removed,
    /// so nothing unusable sits at the embeddings name.
    /// </summary>
    private async Task ImportAsync(CancellationToken ct)
    {
        var (blob, count, dimension, sha) = await ValidateImportAsync(ct);
        MarkEmbedded(blob, count, dimension, "imported", sha);
        await TransitionAsync(VideoStage.Embedded);
    }

    private async Task<(string Blob, int Count, int Dimension, string? Sha256)> ValidateImportAsync(CancellationToken ct)
    {
        var blob = Video.SourceBlob!;
        // Streamed, never held whole: a 256 MiB import (or one that lies) costs the silo one chunk of memory, not its size several times.
        using var content = await blobs.TryOpenReadAsync(blob, ct)
            ?? throw new MediaException(blob, MediaErrorKind.FileNotFound, $"embeddings blob {blob} does not exist (upload it before registering)");
        var stored = content.Metadata.GetValueOrDefault("sha256");
        if (Video.ContentHash is { } expected && stored != expected)
            throw new MediaException(blob, MediaErrorKind.BadEmbeddings,
                $"{blob} holds other content (sha256 {stored?[..Math.Min(12, stored.Length)] ?? "none"}) than was registered ({expected[..Math.Min(12, expected.Length)]}): registered twice with different files?");
        try
        {
            var (count, dimension) = await Task.Run(() => media.ValidateNpy(content), ct); // blocking reads: off the grain's scheduler
            return (blob, count, dimension, stored);
        }
        catch (MediaException e)
        {
            await blobs.DeleteIfMatchAsync(blob, content.ETag, ct); // never leave an unusable file at the embeddings name
            throw new MediaException(Video.OriginalName ?? blob, e.Kind, e.Problem, e);
        }
    }

    /// <summary>
    /// A new small import is validated within its registration: one state write (Embedded or Failed) instead of two and no
    /// trip through the queue. Anything else, or storage trouble on the way, takes the queued path.
    /// </summary>
    private async Task<bool> TryImportInlineAsync()
    {
        if (Video.Kind != VideoSourceKind.Embeddings || Video.SizeBytes is <= 0 or > InlineImportBytes) return false;
        try
        {
            var (blob, count, dimension, sha) = await ValidateImportAsync(CancellationToken.None);
            MarkEmbedded(blob, count, dimension, "imported", sha);
            Video.Stage = VideoStage.Embedded;
        }
        catch (MediaException e)
        {
            Video.Stage = VideoStage.Failed;
            Video.Failure = new VideoFailure { Kind = e.Kind.ToString(), Message = e.Problem, Permanent = e.IsPermanent, At = DateTimeOffset.UtcNow };
            Video.CompletedAt = Video.Failure.At;
        }
        catch (Exception e) when (IsStorageOutage(e))
        {
            return false;
        }
        await CommitAsync();
        return true;
    }

    /// <summary>An import whose bytes came with its registration: their hash and size must be what the registration says.</summary>
    private VideoRegistration CheckInlineContent(VideoRegistration registration, byte[] content)
    {
        if (registration.Kind != VideoSourceKind.Embeddings)
            throw new ArgumentException($"video {Id}: only embeddings imports may carry their content in the registration");
        if (content.Length > VideoRegistration.MaxInlineContentBytes)
            throw new ArgumentException($"video {Id}: {content.Length} bytes of content in the registration (at most {VideoRegistration.MaxInlineContentBytes}; upload larger imports first)");
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        if (registration.ContentHash is { } claimed && !string.Equals(claimed, sha, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"video {Id}: the registration's content has sha256 {sha[..12]}, not the {claimed[..Math.Min(12, claimed.Length)]} it claims");
        return registration with { ContentHash = sha, SizeBytes = content.Length };
    }

    /// <summary>
    /// A new import whose bytes came with its registration: validated in memory first, so an invalid file is never stored (the
    /// video is Failed with the reason); a valid one is stored at the embeddings name (the same content already there is kept;
    /// other content there was left by a failed or unregistered import, since this video is new or Failed: replaced), then the
    /// video is Embedded with one state write. Storage trouble throws to the caller, before anything is recorded.
    /// </summary>
    private async Task ImportContentAsync(byte[] content)
    {
        var name = Video.OriginalName ?? Video.SourceBlob!;
        try
        {
            using var stream = new MemoryStream(content, writable: false);
            var (count, dimension) = media.ValidateNpy(stream, content.Length, name);
            await StoreContentAsync(content);
            MarkEmbedded(Video.SourceBlob!, count, dimension, "imported", Video.ContentHash);
            Video.Stage = VideoStage.Embedded;
        }
        catch (MediaException e)
        {
            Video.Stage = VideoStage.Failed;
            Video.Failure = new VideoFailure { Kind = e.Kind.ToString(), Message = e.Problem, Permanent = e.IsPermanent, At = DateTimeOffset.UtcNow };
            Video.CompletedAt = Video.Failure.At;
        }
        await CommitAsync();
    }

    private async Task StoreContentAsync(byte[] content)
    {
        var blob = Video.SourceBlob!;
        var metadata = BlobLayout.ImportMetadata(Video.ContentHash!, Video.Encoder ?? "", Video.OriginalName ?? "");
        try { await blobs.UploadConditionalAsync(blob, content, ifMatch: null, metadata); }
        catch (BlobConflictException)
        {
            var existing = await blobs.TryGetPropertiesAsync(blob);
            if (existing?.Metadata.GetValueOrDefault("sha256") == Video.ContentHash) return; // this content is there already
            await blobs.UploadConditionalAsync(blob, content, existing?.ETag ?? "*", metadata); // left by a failed import: replaced unless it changes under us
        }
    }

    /// <summary>Imports up to this size are validated inside Register (a few ms); larger ones are queued like videos.</summary>
    public const long InlineImportBytes = 4 << 20;

    private void MarkEmbedded(string blob, int rows, int dimension, string version, string? sha256)
    {
        Video.EmbeddingsBlob = blob;
        Video.EmbeddingsSha256 = sha256;
        Video.SegmentCount = rows;
        _segmentsToCount = rows;
        Video.Dimension = dimension;
        Video.EncoderVersion = version;
        if (!Video.EmbeddedEncoders.Contains(Video.Encoder!)) Video.EmbeddedEncoders.Add(Video.Encoder!);
        Video.CompletedAt = DateTimeOffset.UtcNow;
        Volatile.Write(ref _progress, 1);
    }

    /// <summary>Writes the .npy with its provenance in metadata; returns its SHA-256.</summary>
    private async Task<string> UploadNpyAsync(string blob, float[] values, int rows, int dimension, string encoderName, string encoderVersion, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        NpyArray.FromFloats(values, rows, dimension).Write(buffer);
        var bytes = buffer.ToArray();
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var metadata = new Dictionary<string, string>
        {
            ["videoid"] = Id,
            ["encoder"] = BlobLayout.MetadataValue(encoderName),
            ["encoderversion"] = BlobLayout.MetadataValue(encoderVersion),
            ["encoderspec"] = BlobLayout.MetadataValue(Video.Encoder ?? ""),
            ["rows"] = rows.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["dimension"] = dimension.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["sha256"] = sha,
        };
        await blobs.UploadAsync(blob, bytes, metadata, "application/octet-stream", ct);
        return sha;
    }

    private async Task DownloadAsync(string blob, string local, CancellationToken ct)
    {
        try { await blobs.DownloadToFileAsync(blob, local, ct); }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new MediaException(blob, MediaErrorKind.FileNotFound, $"source blob {blob} does not exist", e);
        }
    }

    private async Task FailAsync(string kind, string message, bool permanent)
    {
        var now = DateTimeOffset.UtcNow;
        Video.Stage = VideoStage.Failed;
        Video.Failure = new VideoFailure { Kind = kind, Message = message, Permanent = permanent, At = now };
        Video.CompletedAt = now;
        // The verdict must reach storage and the index: if storage is down now, the index shard keeps asking (Process)
        // and each ask saves and publishes again, so the video never stays Failed in memory only.
        try { await CommitAsync(); }
        catch (Exception e) when (e is not InconsistentStateException)
        {
            logger.LogWarning("video {Id}: recording the failure failed ({Message}); the index shard's next ask records it", Id, e.Message);
        }
    }

    /// <summary>A step of the work (Probed, Segmented) is published best effort; the final stage must reach the index.</summary>
    private async Task TransitionAsync(VideoStage stage)
    {
        Video.Stage = stage;
        await CommitAsync(mustIndex: Finished);
    }

    /// <summary>
    /// A new version of the state: saved, then published to the index. Registration, retry and the final stage wait for
    /// the index (throwing if it cannot be reached): the index is the work queue and what status reports, so a video the
    /// index does not know would never be processed or seen.
    /// </summary>
    private async Task CommitAsync(bool mustIndex = true)
    {
        if (Video.Version == 0) _registrationToCount = true;
        Video.UpdatedAt = DateTimeOffset.UtcNow;
        Video.Version++;
        await SaveAsync();
        if (mustIndex) await EnsureIndexedAsync();
        else await TryPublishAsync();
    }

    /// <summary>Metrics count what storage holds (a write that fails counts nothing; its resend counts once).</summary>
    private void CountSaved()
    {
        var encoder = new KeyValuePair<string, object?>(LvMaeMetrics.EncoderTag, Video.Encoder);
        if (_registrationToCount) LvMaeMetrics.Registrations.Add(1, encoder);
        if (_segmentsToCount is { } segments) LvMaeMetrics.SegmentsEmbedded.Add(segments, encoder);
        _registrationToCount = false;
        _segmentsToCount = null;
    }

    private async Task SaveAsync()
    {
        _unsaved = true;
        try
        {
            await state.WriteStateAsync(); // a lost answer is resolved inside (ReadBackGrainStorage): this throws only for real conflicts
            _unsaved = false;
            Stored();
            CountSaved();
        }
        catch (InconsistentStateException)
        {
            // Another activation (or a clear) wrote this video, and what storage holds is not ours: our change is void.
            // Reload, so this activation neither serves nor builds on a state storage does not hold; the caller decides again.
            try
            {
                await state.ReadStateAsync();
                _unsaved = false;
                Stored();
            }
            catch (Exception e)
            {
                logger.LogWarning("video {Id}: reloading after a conflict failed ({Message}); deactivating", Id, e.Message);
                DeactivateOnIdle(); // the next activation reads storage afresh; until then Status reports the last stored state
            }
            throw;
        }
    }

    // ---- the index ------------------------------------------------------------------------------------------------------

    private VideoIndexEntry Entry() => VideoIndexEntries.From(Id, Video);

    /// <summary>Until the index holds this version: publishes (with retries). Throws when it cannot; the shard asks again.</summary>
    private async Task EnsureIndexedAsync()
    {
        if (_indexedVersion == Video.Version || _unsaved) return;
        var entry = Entry();
        await VideoRetries.Run(Retries.IndexPublish, _ => GrainFactory.GetGrain<ICorpusIndexGrain>(layout.ShardOf(Id)).Upsert(entry), CancellationToken.None);
        _indexedVersion = Math.Max(_indexedVersion, entry.Version);
    }

    /// <summary>Intermediate transitions: best effort (a later transition or the final one supersedes them).</summary>
    private async Task TryPublishAsync()
    {
        try { await EnsureIndexedAsync(); }
        catch (Exception e) when (e is not ArgumentException)
        {
            logger.LogWarning("video {Id}: index update to {Stage} failed: {Message}", Id, Video.Stage, e.Message);
        }
    }

    public const string StorageKind = "Storage";
    /// <summary>Labels per video at most (each at most <see cref="LabelRules.MaxLength"/> characters): they live in the index too.</summary>
    public const int MaxLabels = 64;

    /// <summary>Error kind and whether retrying can help. Storage errors (the SDK's own retries exhausted included) are their own kind: waited out.</summary>
    public static (string Kind, bool Permanent) Classify(Exception e) => e switch
    {
        MediaException m => (m.Kind.ToString(), m.IsPermanent),
        _ when IsStorageOutage(e) => (StorageKind, false),
        // Storage lacks the operation or denies access: every attempt would meet the same answer (StorageFailure).
        RequestFailedException r when StorageFailure.Classify(r) is { IsPermanent: true, Status: 501 or 505 or 401 or 403 } f => ($"StorageRequest{f.Status}", true),
        RequestFailedException r => ($"StorageRequest{r.Status}", false),
        HttpRequestException or IOException => ("IO", false),
        TimeoutException => ("Timeout", false),
        ArgumentException => ("InvalidRequest", true),
        InvalidDataException => ("BadData", true),
        _ => ("Internal", false),
    };

    /// <summary>Storage unreachable or overloaded (see <see cref="StorageErrors.IsOutage"/>), also when it reaches us through an Orleans call.</summary>
    public static bool IsStorageOutage(Exception e) =>
        StorageErrors.IsOutage(e) || (e is OrleansException { InnerException: { } inner } && StorageErrors.IsOutage(inner));

    private sealed class InlineProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
