using System.Globalization;
using System.Security.Cryptography;
using LvMae.Pipeline;
using LvMae.Storage;

namespace LvMae.Grains.Training;

/// <summary>A checkpoint as training produces it: its bytes and the feed position after its last batch.</summary>
public sealed record PendingCheckpoint(long Step, FeedPosition Position, byte[] Bytes, bool Probe, bool Final);

/// <summary>Where a resumed run picks up: the checkpoint and the feed position after its last batch.</summary>
public sealed record ResumePoint(byte[] Checkpoint, long Step, FeedPosition Position, string Blob);

/// <summary>A checkpoint blob that could not be used, and why.</summary>
public sealed record RejectedCheckpoint(string Blob, string Reason);

/// <summary>
/// The checkpoints of one run in blob storage (runs/&lt;run&gt;/checkpoints/&lt;step&gt;.ckpt): each blob carries its
/// step, its feed position and the SHA-256 of its bytes in metadata; loads verify the hash, so a truncated or
/// overwritten blob is never trained from (a checkpoint from before checksums is accepted when it parses). Resuming takes the newest checkpoint that verifies, falling back past corrupt
/// or vanished ones.
/// </summary>
public sealed class CheckpointStore(BlobStore blobs, string run)
{
    public const string StepMetadata = "step";
    public const string EpochMetadata = "epoch";
    public const string NextIndexMetadata = "nextindex";
    public const string Sha256Metadata = "sha256";

    public string Run { get; } = run;

    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Uploads a checkpoint (overwriting one of the same step) and returns its blob name.</summary>
    public async Task<string> SaveAsync(PendingCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        var blob = BlobLayout.RunCheckpoint(Run, checkpoint.Step);
        var metadata = new Dictionary<string, string>
        {
            [StepMetadata] = checkpoint.Step.ToString(CultureInfo.InvariantCulture),
            [EpochMetadata] = checkpoint.Position.Epoch.ToString(CultureInfo.InvariantCulture),
            [NextIndexMetadata] = checkpoint.Position.NextIndex.ToString(CultureInfo.InvariantCulture),
            [Sha256Metadata] = Hash(checkpoint.Bytes),
        };
        var uploading = System.Diagnostics.Stopwatch.StartNew();
        await blobs.UploadAsync(blob, checkpoint.Bytes, metadata, "application/octet-stream", cancellationToken);
        LvMae.Pipeline.Telemetry.LvMaeMetrics.CheckpointUpload.Record(uploading.Elapsed.TotalSeconds);
        return blob;
    }

    /// <summary>The checkpoint blobs with a readable step, newest first.</summary>
    public async Task<IReadOnlyList<BlobEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        var entries = new List<(long Step, BlobEntry Entry)>();
        await foreach (var entry in blobs.ListAsync(BlobLayout.RunCheckpointPrefix(Run), cancellationToken))
            if (entry.Metadata.TryGetValue(StepMetadata, out var text) && long.TryParse(text, CultureInfo.InvariantCulture, out var step))
                entries.Add((step, entry));
        return entries.OrderByDescending(e => e.Step).Select(e => e.Entry).ToList();
    }

    /// <summary>
    /// The newest checkpoint that downloads and verifies (listing, not the run's state: a checkpoint written just before a
    /// crash counts); null when there is none. <paramref name="rejected"/> lists the newer ones skipped and why.
    /// </summary>
    public async Task<ResumePoint?> LatestGoodAsync(List<RejectedCheckpoint>? rejected = null, CancellationToken cancellationToken = default)
    {
        foreach (var entry in await ListAsync(cancellationToken))
        {
            var (point, reason) = await TryLoadAsync(entry, cancellationToken);
            if (point is not null) return point;
            rejected?.Add(new RejectedCheckpoint(entry.Name, reason!));
        }
        return null;
    }

    /// <summary>The checkpoint of <paramref name="step"/>, verified; throws <see cref="InvalidDataException"/> when it is missing or corrupt.</summary>
    public async Task<ResumePoint> LoadAsync(long step, CancellationToken cancellationToken = default)
    {
        var blob = BlobLayout.RunCheckpoint(Run, step);
        var entry = await blobs.TryGetPropertiesAsync(blob, cancellationToken) ?? throw new InvalidDataException($"checkpoint {blob} is missing");
        var (point, reason) = await TryLoadAsync(entry, cancellationToken);
        return point ?? throw new InvalidDataException($"checkpoint {blob} is unusable: {reason}");
    }

    /// <summary>Deletes every checkpoint of the run.</summary>
    public async Task DeleteAllAsync(CancellationToken cancellationToken = default)
    {
        foreach (var entry in await ListAsync(cancellationToken)) await blobs.DeleteIfExistsAsync(entry.Name, cancellationToken);
    }

    private static bool Readable(byte[] bytes)
    {
        try { LvMae.Model.Training.Checkpoint.ReadHeader(bytes); return true; }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or System.Text.Json.JsonException or ArgumentException or OverflowException) { return false; }
    }

    private async Task<(ResumePoint? Point, string? Reason)> TryLoadAsync(BlobEntry entry, CancellationToken cancellationToken)
    {
        var bytes = await blobs.TryDownloadAsync(entry.Name, cancellationToken);
        if (bytes is null) return (null, "vanished");
        if (entry.Metadata.TryGetValue(Sha256Metadata, out var expected))
        {
            if (!string.Equals(Hash(bytes), expected, StringComparison.OrdinalIgnoreCase)) return (null, $"sha256 mismatch ({bytes.Length} bytes do not hash to the recorded value)");
        }
        else if (!Readable(bytes)) return (null, "no sha256 in its metadata and it does not parse"); // written before checksums

        long Meta(string key) => long.Parse(entry.Metadata[key], CultureInfo.InvariantCulture);
        try
        {
            var position = new FeedPosition(Meta(EpochMetadata), (int)Meta(NextIndexMetadata));
            return (new ResumePoint(bytes, Meta(StepMetadata), position, entry.Name), null);
        }
        catch (Exception e) when (e is KeyNotFoundException or FormatException or OverflowException)
        {
            return (null, $"unreadable metadata: {e.Message}");
        }
    }
}
