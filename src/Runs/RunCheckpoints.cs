using System.Globalization;
using System.Security.Cryptography;
using LvMae.Storage;

namespace LvMae.Runs;

/// <summary>A checkpoint blob as read back and verified: its bytes, its blob, and the step and feed position its metadata records.</summary>
public sealed record StoredCheckpoint(byte[] Bytes, string Blob, long Step, long Epoch, long NextIndex);

/// <summary>
/// The checkpoint blobs of one run as a reader sees them (runs/&lt;run&gt;/checkpoints/&lt;step&gt;.ckpt): each carries
/// its step, its feed position and the SHA-256 of its bytes in metadata, and a load verifies the hash. A checkpoint
/// written before checksums is accepted when <paramref name="readable"/> says it parses (by default: its section table
/// and meta.json, <see cref="LvMae.Formats.CheckpointFile"/>). Writing, and resuming from the newest good one, is
/// CheckpointStore's in src/Grains/Training, which reads through this class.
/// </summary>
public sealed class RunCheckpoints(BlobStore blobs, string run, Func<byte[], bool>? readable = null)
{
    public const string StepMetadata = "step";
    public const string EpochMetadata = "epoch";
    public const string NextIndexMetadata = "nextindex";
    public const string Sha256Metadata = "sha256";

    public string Run { get; } = run;

    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>The checkpoint blobs with a readable step, newest first.</summary>
    public async Task<IReadOnlyList<BlobEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        var entries = new List<(long Step, BlobEntry Entry)>();
        await foreach (var entry in blobs.ListAsync(BlobLayout.RunCheckpointPrefix(Run), cancellationToken))
            if (entry.Metadata.TryGetValue(StepMetadata, out var text) && long.TryParse(text, CultureInfo.InvariantCulture, out var step))
                entries.Add((step, entry));
        return entries.OrderByDescending(e => e.Step).Select(e => e.Entry).ToList();
    }

    /// <summary>The checkpoint of <paramref name="step"/>, verified; throws <see cref="InvalidDataException"/> when it is missing or corrupt.</summary>
    public async Task<StoredCheckpoint> LoadAsync(long step, CancellationToken cancellationToken = default)
    {
        var blob = BlobLayout.RunCheckpoint(Run, step);
        var entry = await blobs.TryGetPropertiesAsync(blob, cancellationToken) ?? throw new InvalidDataException($"checkpoint {blob} is missing");
        var (checkpoint, reason) = await TryLoadAsync(entry, cancellationToken);
        return checkpoint ?? throw new InvalidDataException($"checkpoint {blob} is unusable: {reason}");
    }

    /// <summary>The checkpoint of a listed blob when it downloads and verifies; otherwise null and why not.</summary>
    public async Task<(StoredCheckpoint? Checkpoint, string? Reason)> TryLoadAsync(BlobEntry entry, CancellationToken cancellationToken = default)
    {
        var bytes = await blobs.TryDownloadAsync(entry.Name, cancellationToken);
        if (bytes is null) return (null, "vanished");
        if (entry.Metadata.TryGetValue(Sha256Metadata, out var expected))
        {
            if (!string.Equals(Hash(bytes), expected, StringComparison.OrdinalIgnoreCase)) return (null, $"sha256 mismatch ({bytes.Length} bytes do not hash to the recorded value)");
        }
        else if (!(readable ?? Parses)(bytes)) return (null, "no sha256 in its metadata and it does not parse"); // written before checksums

        long Meta(string key) => long.Parse(entry.Metadata[key], CultureInfo.InvariantCulture);
        try
        {
            return (new StoredCheckpoint(bytes, entry.Name, Meta(StepMetadata), Meta(EpochMetadata), (int)Meta(NextIndexMetadata)), null);
        }
        catch (Exception e) when (e is KeyNotFoundException or FormatException or OverflowException)
        {
            return (null, $"unreadable metadata: {e.Message}");
        }
    }

    /// <summary>Deletes every checkpoint of the run.</summary>
    public async Task DeleteAllAsync(CancellationToken cancellationToken = default)
    {
        foreach (var entry in await ListAsync(cancellationToken)) await blobs.DeleteIfExistsAsync(entry.Name, cancellationToken);
    }

    /// <summary>The section table reads and meta.json is a JSON object with a step.</summary>
    private static bool Parses(byte[] bytes)
    {
        try
        {
            var meta = System.Text.Json.Nodes.JsonNode.Parse(LvMae.Formats.CheckpointFile.ReadSections(bytes)["meta.json"])!.AsObject();
            meta["step"]!.GetValue<long>();
            return true;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or System.Text.Json.JsonException or ArgumentException
                                      or OverflowException or KeyNotFoundException or InvalidOperationException or NullReferenceException or FormatException) { return false; }
    }
}
