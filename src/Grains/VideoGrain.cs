using Azure;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Media;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace LvMae.Grains;

/// <summary>
/// One video (key = video id): a persisted state machine Registered -> Probed -> Segmented -> Embedded (or Failed).
/// Calls return at once; the work runs in the grain's background through the per-silo <see cref="MediaJobLimiter"/>.
/// Every stage writes its data blobs first and the state that points to them second (ETag-guarded), so a crash leaves
/// the video resumable from its last persisted stage, never "Embedded" without its embeddings.
/// </summary>
[GrainType("lvmae.video")]
[Orleans.Placement.RandomPlacement] // spread the work over the silos (each bounds its own jobs)
public sealed class VideoGrain(
    [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<VideoState> state,
    BlobStore blobs,
    IMediaWork media,
    MediaJobLimiter limiter,
    IOptions<ProcessingOptions> options,
    ILogger<VideoGrain> logger) : Grain, IVideoGrain
{
    private readonly ProcessingOptions _options = options.Value;
    private CancellationTokenSource? _cts;
    private Task? _work;
    private double _progress;
    private volatile bool _queued;

    private string Id => this.GetPrimaryKeyString();
    private VideoState S => state.State;
    private bool Working => _work is { IsCompleted: false } && S.Stage is not (VideoStage.Embedded or VideoStage.Failed);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists)
        {
            // Re-publish (the index may have missed the last transition if a silo died in between), then resume unfinished work.
            _ = PublishAsync();
            if (S.Stage is not (VideoStage.Embedded or VideoStage.Failed)) StartWork();
        }
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_cts is not null)
        {
            _cts.Cancel();
            if (_work is not null)
                try { await _work.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken); }
                catch (Exception e) when (e is OperationCanceledException or TimeoutException) { }
        }
    }

    public async Task<VideoStatus> Register(VideoRegistration registration)
    {
        BlobLayout.ValidateId(Id, "video id");
        BlobLayout.EncoderFileName(registration.Encoder); // throws ArgumentException for an unusable encoder spec
        ArgumentException.ThrowIfNullOrWhiteSpace(registration.SourceBlob);

        if (state.RecordExists)
        {
            var labels = S.Labels.Union(registration.Labels).ToList();
            var sameEncoder = string.Equals(S.Encoder, registration.Encoder, StringComparison.Ordinal);
            if (sameEncoder || Working)
            {
                if (labels.Count != S.Labels.Count)
                {
                    S.Labels = labels;
                    S.UpdatedAt = DateTimeOffset.UtcNow;
                    S.Version++;
                    await SaveAsync();
                    await PublishAsync();
                }
                if (!sameEncoder)
                    throw new InvalidOperationException($"video {Id} is still being processed with encoder {S.Encoder}; register {registration.Encoder} when it is done");
                return Status();
            }
            // A new encoder for a finished video: run the pipeline again for it (earlier embeddings stay).
            S.Labels = labels;
            S.Encoder = registration.Encoder;
            S.Kind = registration.Kind;
            S.SourceBlob = registration.SourceBlob;
            Restart(VideoStage.Registered);
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
                Version = 1,
            };
        }
        await SaveAsync();
        await PublishAsync();
        StartWork();
        return Status();
    }

    public Task<VideoStatus> GetStatus() => Task.FromResult(Status());

    public async Task<VideoStatus> Retry()
    {
        if (state.RecordExists && S.Stage == VideoStage.Failed && !Working)
        {
            Restart(S.Probe is null ? VideoStage.Registered : VideoStage.Probed);
            await SaveAsync();
            await PublishAsync();
            StartWork();
        }
        return Status();
    }

    public Task<VideoStatus> Resume()
    {
        if (state.RecordExists && S.Stage is not (VideoStage.Embedded or VideoStage.Failed)) StartWork();
        return Task.FromResult(Status());
    }

    private void Restart(VideoStage stage)
    {
        S.Stage = stage;
        S.Failure = null;
        S.Attempts = 0;
        S.CompletedAt = null;
        S.UpdatedAt = DateTimeOffset.UtcNow;
        S.Version++;
    }

    private VideoStatus Status() => !state.RecordExists
        ? new VideoStatus { Id = Id, Exists = false }
        : new VideoStatus
        {
            Id = Id,
            Exists = true,
            Stage = S.Stage,
            Encoder = S.Encoder,
            EncoderVersion = S.EncoderVersion,
            Labels = S.Labels.ToList(),
            OriginalName = S.OriginalName,
            Kind = S.Kind,
            Working = Working,
            Queued = Working && _queued,
            Progress = S.Stage == VideoStage.Embedded ? 1.0 : Volatile.Read(ref _progress),
            Attempts = S.Attempts,
            Failure = S.Failure,
            Probe = S.Probe,
            SegmentCount = S.SegmentCount,
            Dimension = S.Dimension,
            EmbeddingsBlob = S.EmbeddingsBlob,
            SegmentsBlob = S.Stage is VideoStage.Embedded ? BlobLayout.Segments(Id) : null,
            EmbeddedEncoders = S.EmbeddedEncoders.ToList(),
            RegisteredAt = S.RegisteredAt,
            UpdatedAt = S.UpdatedAt,
            CompletedAt = S.CompletedAt,
            SourceBlob = S.SourceBlob,
        };

    private void StartWork()
    {
        if (Working) return;
        _cts?.Dispose();
        _cts = new CancellationTokenSource();
        // Queued or working videos receive no calls for a long time: keep the activation (and its queue place) alive.
        DelayDeactivation(TimeSpan.FromHours(12));
        _work = WorkAsync(_cts.Token);
    }

    // ---- the background work (runs on the grain's scheduler; heavy parts go to the thread pool via the limiter) ----

    private async Task WorkAsync(CancellationToken ct)
    {
        await Task.Yield(); // let the call that started us return first
        var scratch = Path.Combine(_options.WorkDirectory ?? Path.GetTempPath(), "lvmae-work", $"{Id}-{Guid.NewGuid():N}");
        try
        {
            while (!ct.IsCancellationRequested && S.Stage is not (VideoStage.Embedded or VideoStage.Failed))
            {
                S.Attempts++;
                S.UpdatedAt = DateTimeOffset.UtcNow;
                try
                {
                    await SaveAsync();
                    await RunStagesAsync(scratch, ct);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
                catch (InconsistentStateException e)
                {
                    // Another activation (or a clear) moved the state on: this one is stale and must stop.
                    logger.LogWarning("video {Id}: state changed elsewhere ({Message}); deactivating this activation", Id, e.Message);
                    DeactivateOnIdle();
                    return;
                }
                catch (Exception e)
                {
                    var (kind, permanent) = Classify(e);
                    var message = e is MediaException m ? m.Problem : e.Message;
                    if (permanent || S.Attempts >= _options.MaxAttempts)
                    {
                        if (permanent) logger.LogInformation("video {Id}: failed ({Kind}, permanent): {Message}", Id, kind, message);
                        else logger.LogWarning(e, "video {Id}: failed ({Kind}) after {Attempts} attempt(s)", Id, kind, S.Attempts);
                        await FailAsync(kind, message, permanent);
                        return;
                    }
                    var delay = Backoff(S.Attempts);
                    logger.LogInformation("video {Id}: attempt {Attempt} failed ({Kind}: {Message}); retrying in {Delay}", Id, S.Attempts, kind, message, delay);
                    await Task.Delay(delay, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (Exception e)
        {
            logger.LogError(e, "video {Id}: background work stopped unexpectedly", Id);
        }
        finally
        {
            _queued = false;
            DelayDeactivation(TimeSpan.FromSeconds(-1)); // back to the regular idle collection
            try { if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true); }
            catch (IOException) { }
        }
    }

    private async Task FailAsync(string kind, string message, bool permanent)
    {
        var now = DateTimeOffset.UtcNow;
        S.Stage = VideoStage.Failed;
        S.Failure = new VideoFailure { Kind = kind, Message = message, Permanent = permanent, At = now };
        S.UpdatedAt = now;
        S.CompletedAt = now;
        S.Version++;
        await SaveWithRetryAsync();
        await PublishAsync();
    }

    private async Task RunStagesAsync(string scratch, CancellationToken ct)
    {
        var source = S.SourceBlob ?? throw new InvalidOperationException("no source blob registered");
        Directory.CreateDirectory(scratch);
        var local = Path.Combine(scratch, Path.GetFileName(source));
        if (!File.Exists(local))
            await DownloadAsync(source, local, ct);

        if (S.Kind == VideoSourceKind.Embeddings)
        {
            await ImportAsync(local, source, ct);
            return;
        }

        if (S.Stage == VideoStage.Registered)
        {
            _queued = true;
            var info = await limiter.RunAsync(c => media.ProbeAsync(local, c), ct, () => _queued = false);
            S.Probe = new VideoProbe { DurationSeconds = info.DurationSeconds, FrameRate = info.FrameRate, Width = info.Width, Height = info.Height, Codec = info.Codec };
            await TransitionAsync(VideoStage.Probed);
        }

        if (S.Stage == VideoStage.Probed)
        {
            // The plan is deterministic from the duration; segments.json is written with the embeddings it indexes.
            var plan = media.Plan(S.Probe!.DurationSeconds, _options.SegmentSeconds);
            if (plan.Count == 0)
                throw new MediaException(source, MediaErrorKind.ZeroDuration, $"a {S.Probe.DurationSeconds:F2} s video has no {_options.SegmentSeconds} s segment");
            S.SegmentCount = plan.Count;
            await TransitionAsync(VideoStage.Segmented);
        }

        if (S.Stage == VideoStage.Segmented)
        {
            var encoder = S.Encoder!;
            Volatile.Write(ref _progress, 0);
            _queued = true;
            var progress = new InlineProgress(v => Volatile.Write(ref _progress, Math.Clamp(v, 0, 1)));
            var encoded = await limiter.RunAsync(c => media.EncodeAsync(local, encoder, _options.SegmentSeconds, progress, c), ct, () => _queued = false);
            var rows = encoded.Segments.Count;
            if (rows == 0 || encoded.Dimension <= 0 || encoded.Embeddings.Length != rows * encoded.Dimension)
                throw new MediaException(source, MediaErrorKind.EncoderFailed, $"encoder returned {encoded.Embeddings.Length} values for {rows} segments of dimension {encoded.Dimension}");

            // Data first: embeddings, then segments.json that indexes them; only then the state that points to both.
            var embeddingsBlob = BlobLayout.Embeddings(Id, encoder);
            await UploadNpyAsync(embeddingsBlob, encoded.Embeddings, rows, encoded.Dimension, encoded.EncoderName, encoded.EncoderVersion, ct);
            var doc = encoded.ToDocument(Id, S.ContentHash);
            await blobs.UploadAsync(BlobLayout.Segments(Id), System.Text.Encoding.UTF8.GetBytes(doc.ToJson()), contentType: "application/json", cancellationToken: ct);
            MarkEmbedded(embeddingsBlob, rows, encoded.Dimension, encoded.EncoderVersion);
            await TransitionAsync(VideoStage.Embedded);
        }
    }

    private async Task ImportAsync(string local, string blob, CancellationToken ct)
    {
        var (_, count, dimension) = media.ReadNpy(local);
        if (count == 0 || dimension == 0) throw new MediaException(blob, MediaErrorKind.BadEmbeddings, $"empty embeddings [{count}, {dimension}]");
        var seconds = _options.SegmentSeconds;
        var doc = new SegmentsDocument
        {
            VideoId = Id,
            ContentSha256 = S.ContentHash,
            Info = new VideoInfo(count * seconds, 0, 0, 0, "imported", S.SizeBytes),
            Segments = Enumerable.Range(0, count).Select(i => new SegmentSpan(i, i * seconds, (i + 1) * seconds)).ToList(),
            SegmentSeconds = seconds,
            EncoderName = S.Encoder ?? "imported",
            EncoderVersion = "imported",
            Dimension = dimension,
        };
        await blobs.UploadAsync(BlobLayout.Segments(Id), System.Text.Encoding.UTF8.GetBytes(doc.ToJson()), contentType: "application/json", cancellationToken: ct);
        MarkEmbedded(blob, count, dimension, "imported");
        await TransitionAsync(VideoStage.Embedded);
    }

    private void MarkEmbedded(string blob, int rows, int dimension, string version)
    {
        S.EmbeddingsBlob = blob;
        S.SegmentCount = rows;
        S.Dimension = dimension;
        S.EncoderVersion = version;
        if (!S.EmbeddedEncoders.Contains(S.Encoder!)) S.EmbeddedEncoders.Add(S.Encoder!);
        S.CompletedAt = DateTimeOffset.UtcNow;
        Volatile.Write(ref _progress, 1);
    }

    private async Task UploadNpyAsync(string blob, float[] values, int rows, int dimension, string encoderName, string encoderVersion, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        NpyArray.FromFloats(values, rows, dimension).Write(buffer);
        var metadata = new Dictionary<string, string>
        {
            ["videoid"] = Id,
            ["encoder"] = Ascii(encoderName),
            ["encoderversion"] = Ascii(encoderVersion),
            ["encoderspec"] = Ascii(S.Encoder ?? ""),
            ["rows"] = rows.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["dimension"] = dimension.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        await blobs.UploadAsync(blob, buffer.ToArray(), metadata, "application/octet-stream", ct);
    }

    private static string Ascii(string value) => new(value.Select(c => c is >= ' ' and <= '~' ? c : '_').ToArray());

    private async Task DownloadAsync(string blob, string local, CancellationToken ct)
    {
        try { await blobs.DownloadToFileAsync(blob, local, ct); }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new MediaException(blob, MediaErrorKind.FileNotFound, $"source blob {blob} does not exist", e);
        }
    }

    private async Task TransitionAsync(VideoStage stage)
    {
        S.Stage = stage;
        S.UpdatedAt = DateTimeOffset.UtcNow;
        S.Version++;
        await SaveAsync();
        await PublishAsync();
    }

    private async Task SaveAsync()
    {
        try { await state.WriteStateAsync(); }
        catch (InconsistentStateException)
        {
            // Another activation (or a clear) wrote this video since we read it: this activation is stale. Let the next
            // call activate afresh from storage.
            DeactivateOnIdle();
            throw;
        }
    }

    /// <summary>For the Failed transition: storage hiccups must not leave the video without its verdict.</summary>
    private async Task SaveWithRetryAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            try { await state.WriteStateAsync(); return; }
            catch (Exception e) when (e is not InconsistentStateException && attempt < 5)
            {
                logger.LogWarning(e, "video {Id}: saving state failed (attempt {Attempt}); retrying", Id, attempt);
                await Task.Delay(Backoff(attempt));
            }
        }
    }

    /// <summary>Upserts this video's entry into its corpus index shard; an index failure never fails the video (retried, then re-published on the next transition or activation).</summary>
    private async Task PublishAsync()
    {
        var entry = new VideoIndexEntry
        {
            Id = Id,
            Stage = S.Stage,
            Encoder = S.Encoder,
            Labels = S.Labels.ToList(),
            EmbeddedEncoders = S.EmbeddedEncoders.ToList(),
            FailureKind = S.Failure?.Kind,
            FailureMessage = S.Failure?.Message is { Length: > 300 } m ? m[..300] : S.Failure?.Message,
            UpdatedAt = S.UpdatedAt ?? DateTimeOffset.UtcNow,
            Version = S.Version,
            SegmentCount = S.SegmentCount,
            OriginalName = S.OriginalName,
        };
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            try
            {
                await GrainFactory.ShardFor(Id).Upsert(entry);
                return;
            }
            catch (Exception e) when (attempt < 3)
            {
                logger.LogWarning(e, "video {Id}: index update failed (attempt {Attempt})", Id, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt));
            }
            catch (Exception e)
            {
                logger.LogError(e, "video {Id}: index update failed; it will be re-published on the next transition or activation", Id);
            }
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        var ms = _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Max(0, attempt - 1));
        return TimeSpan.FromMilliseconds(Math.Min(ms, _options.MaxRetryDelay.TotalMilliseconds));
    }

    /// <summary>Error kind and whether retrying can help.</summary>
    public static (string Kind, bool Permanent) Classify(Exception e) => e switch
    {
        MediaException m => (m.Kind.ToString(), m.IsPermanent),
        RequestFailedException => ("Storage", false),
        HttpRequestException or IOException => ("IO", false),
        TimeoutException => ("Timeout", false),
        ArgumentException => ("InvalidRequest", true),
        InvalidDataException => ("BadData", true),
        _ => ("Internal", false),
    };

    private sealed class InlineProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
