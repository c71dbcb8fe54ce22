using System.Globalization;
using LvMae.Pipeline;
using LvMae.Runs;
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
/// or vanished ones. Reading and verifying is <see cref="RunCheckpoints"/>'s (src/Runs, which lvmae uses too).
/// </summary>
public sealed class CheckpointStore(BlobStore blobs, string run)
{
    public const string StepMetadata = RunCheckpoints.StepMetadata;
    public const string EpochMetadata = RunCheckpoints.EpochMetadata;
    public const string NextIndexMetadata = RunCheckpoints.NextIndexMetadata;
    public const string Sha256Metadata = RunCheckpoints.Sha256Metadata;

    private readonly RunCheckpoints _stored = new(blobs, run, Readable);

    public string Run { get; } = run;

    public static string Hash(ReadOnlySpan<byte> bytes) => RunCheckpoints.Hash(bytes);

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
    public Task<IReadOnlyList<BlobEntry>> ListAsync(CancellationToken cancellationToken = default) => _stored.ListAsync(cancellationToken);

    /// <summary>
    /// The newest checkpoint that downloads and verifies (listing, not the run's state: a checkpoint written just before a
    /// crash counts); null when there is none. <paramref name="rejected"/> lists the newer ones skipped and why.
    /// </summary>
    public async Task<ResumePoint?> LatestGoodAsync(List<RejectedCheckpoint>? rejected = null, CancellationToken cancellationToken = default)
    {
        foreach (var entry in await ListAsync(cancellationToken))
        {
            var (stored, reason) = await _stored.TryLoadAsync(entry, cancellationToken);
            if (stored is not null) return Point(stored);
            rejected?.Add(new RejectedCheckpoint(entry.Name, reason!));
        }
        return null;
    }

    /// <summary>The checkpoint of <paramref name="step"/>, verified; throws <see cref="InvalidDataException"/> when it is missing or corrupt.</summary>
    public async Task<ResumePoint> LoadAsync(long step, CancellationToken cancellationToken = default) => Point(await _stored.LoadAsync(step, cancellationToken));

    /// <summary>Deletes every checkpoint of the run.</summary>
    public Task DeleteAllAsync(CancellationToken cancellationToken = default) => _stored.DeleteAllAsync(cancellationToken);

    private static ResumePoint Point(StoredCheckpoint c) => new(c.Bytes, c.Step, new FeedPosition(c.Epoch, (int)c.NextIndex), c.Blob);

    private static bool Readable(byte[] bytes)
    {
        try { LvMae.Model.Training.Checkpoint.ReadHeader(bytes); return true; }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or System.Text.Json.JsonException or ArgumentException or OverflowException) { return false; }
    }
}
