using System.Security.Cryptography;
using Azure;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Media;
using LvMae.Storage;

namespace LvMae.Grains;

/// <summary>Embeddings written for a video (or validated for an import): what its Embedded state points to.</summary>
public sealed record Embedding(string Blob, int Rows, int Dimension, string Version, string? Sha256, string? Warning = null);

/// <summary>
/// How the media work reports back to its video: <see cref="Advance"/> commits an intermediate stage (the processor has set
/// its data: Probe, SegmentCount), <see cref="Progress"/> is the encoding's fraction done, <see cref="WaitingForSlot"/> says
/// whether it waits for a job slot.
/// </summary>
public sealed record VideoWorkHooks(Func<VideoStage, Task> Advance, Action<double>? Progress = null, Action<bool>? WaitingForSlot = null);

/// <summary>
/// A video's media work, with no grain in it: download, inspect (ffprobe), plan, encode and upload, and the validation of
/// imports. Built from plain parts (blobs, media, this silo's job slots and scratch), so it runs without a cluster. Failures
/// are thrown: <see cref="MediaException"/> for the input's own problems (the caller records them with
/// <see cref="VideoFailures.MarkFailed(VideoState, Exception)"/>), storage errors as they come (waited out by the caller).
/// </summary>
public sealed class VideoProcessor(BlobStore blobs, IMediaWork media, MediaJobLimiter limiter, ScratchSpace scratch, ProcessingOptions options, SourceBlobs sources)
{
    /// <summary>
    /// The media stages left for <paramref name="video"/> (from Registered, Probed or Segmented): a job slot taken before
    /// anything is downloaded, the source downloaded into scratch, then probe (<see cref="VideoWorkHooks.Advance"/> Probed),
    /// plan (Segmented), encode and upload. Data first: the embeddings and segments.json are written; the caller then saves
    /// the state that points to them. Slot and scratch are given back before this returns. Null: no stage to run.
    /// </summary>
    public async Task<Embedding?> ProcessAsync(string id, VideoState video, VideoWorkHooks hooks, CancellationToken ct)
    {
        var source = video.SourceBlob ?? throw new InvalidOperationException("no source blob registered");
        hooks.WaitingForSlot?.Invoke(true);
        await using (await limiter.AcquireAsync(ct))
        {
            hooks.WaitingForSlot?.Invoke(false);
            var folder = scratch.Create(id);
            try { return await ProcessSourceAsync(id, video, source, Path.Combine(folder, Path.GetFileName(source)), hooks, ct); }
            finally { ScratchSpace.Release(folder); } // before the slot goes back
        }
    }

    private async Task<Embedding?> ProcessSourceAsync(string id, VideoState video, string source, string local, VideoWorkHooks hooks, CancellationToken ct)
    {
        if (video.InPlace is { } inPlace)
        {
            await DownloadInPlaceAsync(inPlace, local, ct);
            // The client never read the bytes: the hash of what was embedded is taken here (recorded with the probe).
            if (video.ContentHash is null) await using (var file = File.OpenRead(local)) video.ContentHash = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
        }
        else await DownloadAsync(source, local, ct);

        if (video.Stage == VideoStage.Registered)
        {
            var probed = await Task.Run(() => media.InspectAsync(local, ct), ct);
            video.Probe = new VideoFileInfo { DurationSeconds = probed.DurationSeconds, FrameRate = probed.FrameRate, Width = probed.Width, Height = probed.Height, Codec = probed.Codec };
            await hooks.Advance(VideoStage.Probed);
        }

        if (video.Stage == VideoStage.Probed)
        {
            // The plan is deterministic from the duration; segments.json is written with the embeddings it indexes.
            var segments = media.Plan(video.Probe!.DurationSeconds, options.SegmentSeconds);
            if (segments.Count == 0)
                throw new MediaException(source, MediaErrorKind.ZeroDuration, $"a {video.Probe.DurationSeconds:F2} s video has no {options.SegmentSeconds} s segment");
            video.SegmentCount = segments.Count;
            await hooks.Advance(VideoStage.Segmented);
        }

        if (video.Stage != VideoStage.Segmented) return null;
        var encoder = video.Encoder!;
        hooks.Progress?.Invoke(0);
        var progress = new InlineProgress(v => hooks.Progress?.Invoke(Math.Clamp(v, 0, 1)));
        // One probe per video: the state's probe and the plan it gives, not a second ffprobe inside the encoder.
        var p = video.Probe!;
        var info = new VideoInfo(p.DurationSeconds, p.FrameRate, p.Width, p.Height, p.Codec, video.SizeBytes);
        var plan = media.Plan(p.DurationSeconds, options.SegmentSeconds);
        var encoded = await Task.Run(() => media.EncodeAsync(local, info, plan, encoder, options.SegmentSeconds, progress, ct), ct);
        var rows = encoded.Segments.Count;
        if (rows == 0 || encoded.Dimension <= 0 || encoded.Embeddings.Length != rows * encoded.Dimension)
            throw new MediaException(source, MediaErrorKind.EncoderFailed, $"encoder returned {encoded.Embeddings.Length} values for {rows} segments of dimension {encoded.Dimension}");

        // Data first: embeddings, then segments.json that indexes them; only then (the caller) the state that points to both.
        var embeddingsBlob = BlobLayout.Embeddings(id, encoder);
        var sha = await UploadNpyAsync(id, video, embeddingsBlob, encoded, ct);
        var doc = encoded.ToDocument(id, video.ContentHash);
        await blobs.UploadAsync(BlobLayout.Segments(id), System.Text.Encoding.UTF8.GetBytes(doc.ToJson()), contentType: "application/json", cancellationToken: ct);
        return new Embedding(embeddingsBlob, rows, encoded.Dimension, encoded.EncoderVersion, sha, encoded.Truncation?.Warning);
    }

    private async Task DownloadAsync(string blob, string local, CancellationToken ct)
    {
        try { await blobs.DownloadToFileAsync(blob, local, ct); }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new MediaException(blob, MediaErrorKind.FileNotFound, $"source blob {blob} does not exist", e);
        }
    }

    /// <summary>
    /// A source registered in place, streamed where it is into scratch (never copied into the data container), only if it
    /// still has the ETag it was registered with: other content under the same id would be embedded silently otherwise.
    /// </summary>
    private async Task DownloadInPlaceAsync(BlobSource source, string local, CancellationToken ct)
    {
        var blob = await sources.BlobAsync(source);
        var tmp = local + ".part";
        try
        {
            await blob.DownloadToAsync(tmp, new Azure.Storage.Blobs.Models.BlobDownloadToOptions
            {
                Conditions = new Azure.Storage.Blobs.Models.BlobRequestConditions { IfMatch = new ETag(source.ETag) },
            }, ct);
            File.Move(tmp, local, overwrite: true);
        }
        catch (RequestFailedException e) when (e.Status is 412 || e.ErrorCode == "ConditionNotMet")
        {
            string now;
            try { now = (await blob.GetPropertiesAsync(cancellationToken: ct)).Value.ETag.ToString(); }
            catch (RequestFailedException gone) when (gone.Status == 404) { throw Missing(source, gone); } // some stores check If-Match first
            catch (RequestFailedException) { now = "unknown"; }
            throw new MediaException(source.ToString(), MediaErrorKind.SourceChanged,
                $"source blob {source} changed since it was registered (ETag {source.ETag} then, {now} now): not embedded; " +
                "ingest it again with --reembed-changed to embed the new content", e);
        }
        catch (RequestFailedException e) when (e.Status == 404) { throw Missing(source, e); }
        catch (RequestFailedException e) when (e.Status is 401 or 403)
        {
            sources.Forget(source.Store);
            throw new MediaException(source.ToString(), MediaErrorKind.SourceDenied,
                $"storage denied reading source blob {source} ({e.Status} {e.ErrorCode}); give the cluster a valid credential " +
                "(lvmae ingest --source-url with a new SAS) and retry the video", e);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private static MediaException Missing(BlobSource source, RequestFailedException e) => new(source.ToString(), MediaErrorKind.FileNotFound,
        e.ErrorCode == "ContainerNotFound" ? $"the container of source blob {source} does not exist" : $"source blob {source} does not exist (deleted or renamed since it was registered)", e);

    /// <summary>Writes the .npy with its provenance in metadata; returns its SHA-256.</summary>
    private async Task<string> UploadNpyAsync(string id, VideoState video, string blob, EmbeddedVideo encoded, CancellationToken ct)
    {
        var rows = encoded.Segments.Count;
        using var buffer = new MemoryStream();
        NpyArray.FromFloats(encoded.Embeddings, rows, encoded.Dimension).Write(buffer);
        var bytes = buffer.ToArray();
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var metadata = new Dictionary<string, string>
        {
            ["videoid"] = id,
            ["encoder"] = BlobLayout.MetadataValue(encoded.EncoderName),
            ["encoderversion"] = BlobLayout.MetadataValue(encoded.EncoderVersion),
            ["encoderspec"] = BlobLayout.MetadataValue(video.Encoder ?? ""),
            ["rows"] = rows.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["dimension"] = encoded.Dimension.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["sha256"] = sha,
        };
        await blobs.UploadAsync(blob, bytes, metadata, "application/octet-stream", ct);
        return sha;
    }

    // ---- imports --------------------------------------------------------------------------------------------------------

    /// <summary>
    /// The one import route (<see cref="VideoSourceKind.Embeddings"/>; no job slot, no scratch). <paramref name="carried"/>:
    /// the bytes came with the registration (<see cref="RegistrationDecision.Validate"/> checked their hash), validated in
    /// memory first so an invalid file is never stored, then stored at the embeddings name. Null: the client uploaded the
    /// .npy there, and it is validated as a stream, never held whole; an invalid one is deleted. Either way an invalid file
    /// throws <see cref="MediaException"/> naming the user's file.
    /// </summary>
    public Task<Embedding> ImportAsync(VideoState video, byte[]? carried, CancellationToken ct) =>
        carried is null ? ValidateStoredAsync(video, ct) : StoreCarriedAsync(video, carried);

    private async Task<Embedding> StoreCarriedAsync(VideoState video, byte[] content)
    {
        using (var stream = new MemoryStream(content, writable: false))
        {
            var (count, dimension) = media.ValidateNpy(stream, content.Length, video.OriginalName ?? video.SourceBlob!);
            await StoreContentAsync(video, content);
            return new Embedding(video.SourceBlob!, count, dimension, "imported", video.ContentHash);
        }
    }

    /// <summary>
    /// The same content already there is kept; other content there was left by a failed or unregistered import (this video
    /// is new or Failed): replaced, unless it changes under us.
    /// </summary>
    private async Task StoreContentAsync(VideoState video, byte[] content)
    {
        var blob = video.SourceBlob!;
        var metadata = BlobLayout.ImportMetadata(video.ContentHash!, video.Encoder ?? "", video.OriginalName ?? "");
        try { await blobs.UploadConditionalAsync(blob, content, ifMatch: null, metadata); }
        catch (BlobConflictException)
        {
            var existing = await blobs.TryGetPropertiesAsync(blob);
            if (existing?.Metadata.GetValueOrDefault("sha256") == video.ContentHash) return; // this content is there already
            await blobs.UploadConditionalAsync(blob, content, existing?.ETag ?? "*", metadata);
        }
    }

    private async Task<Embedding> ValidateStoredAsync(VideoState video, CancellationToken ct)
    {
        var blob = video.SourceBlob!;
        // Streamed, never held whole: a 256 MiB import (or one that lies) costs the silo one chunk of memory, not its size several times.
        using var content = await blobs.TryOpenReadAsync(blob, ct)
            ?? throw new MediaException(blob, MediaErrorKind.FileNotFound, $"embeddings blob {blob} does not exist (upload it before registering)");
        var stored = content.Metadata.GetValueOrDefault("sha256");
        if (video.ContentHash is { } expected && stored != expected)
            throw new MediaException(blob, MediaErrorKind.BadEmbeddings,
                $"{blob} holds other content (sha256 {stored?[..Math.Min(12, stored.Length)] ?? "none"}) than was registered ({expected[..Math.Min(12, expected.Length)]}): registered twice with different files?");
        try
        {
            var (count, dimension) = await Task.Run(() => media.ValidateNpy(content), ct); // blocking reads: off the grain's scheduler
            return new Embedding(blob, count, dimension, "imported", stored);
        }
        catch (MediaException e)
        {
            await blobs.DeleteIfMatchAsync(blob, content.ETag, ct); // never leave an unusable file at the embeddings name
            throw new MediaException(video.OriginalName ?? blob, e.Kind, e.Problem, e);
        }
    }

    private sealed class InlineProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
