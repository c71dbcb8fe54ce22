using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains.Index;

/// <summary>Another writer appended to or compacted this shard's log since it was loaded: reload before writing again.</summary>
public sealed class ShardLogConflictException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Durable form of one index shard: a snapshot (JSON lines, one entry each) plus an append-only log of the changes since
/// (one JSON line per change, one append block per group commit), under a head blob naming the current generation.
/// Bytes written per change are one line; the snapshot is rewritten only when the log has grown as large as it, so
/// rewriting costs at most as many bytes as the log did: constant work per change, whatever the corpus size.
/// Appends are conditional on the log's length (a second writer is detected, never interleaved).
/// </summary>
public sealed class ShardLog(BlobStore blobs, int shard, long minCompactBytes = 256 << 10)
{
    /// <summary>An append blob takes at most 50,000 blocks; compact well before.</summary>
    private const int MaxBlocks = 40_000;
    private const int MaxBlockBytes = 4 << 20;

    /// <summary>How the log is stored (benchmark output).</summary>
    public const string Layout = "append blob (Append Block, If-Append-Position)";

    private static readonly JsonSerializerOptions Json = CreateJson();
    private string? _headETag;
    private bool _logExists;

    public int Shard { get; } = shard;
    public long Generation { get; private set; }
    public long LogBytes { get; private set; }
    public long SnapshotBytes { get; private set; }
    public int Blocks { get; private set; }
    /// <summary>Bytes this instance wrote (appends, snapshots, heads): the benchmark's bytes-per-video figure.</summary>
    public long BytesWritten { get; private set; }
    /// <summary>Appends whose response was lost and that reading back found written (a sign storage crashed or the network cut).</summary>
    public int LostResponses { get; private set; }
    /// <summary>Log lines that could not be read back (reported, skipped).</summary>
    public int UnreadableLines { get; private set; }

    public bool ShouldCompact => Blocks >= MaxBlocks || LogBytes > Math.Max(minCompactBytes, SnapshotBytes);

    private static JsonSerializerOptions CreateJson()
    {
        var json = new JsonSerializerOptions(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
        json.Converters.Add(new JsonStringEnumConverter());
        return json;
    }

    /// <summary>A change as it is logged: an entry, or the removal of one.</summary>
    public sealed record Change(VideoIndexEntry? Entry, string? Removed);

    /// <summary>Reads head, snapshot and log; returns every change in order (apply them with version checks).</summary>
    public async Task<IReadOnlyList<Change>> LoadAsync(CancellationToken cancellationToken = default)
    {
        var changes = new List<Change>();
        var head = await blobs.TryDownloadWithETagAsync(BlobLayout.IndexHead(Shard), cancellationToken);
        (Generation, _headETag) = head is null ? (0, null) : (JsonSerializer.Deserialize<Head>(head.Value.Content, Json)!.Generation, head.Value.ETag);
        var snapshot = await blobs.TryDownloadAsync(BlobLayout.IndexSnapshot(Shard, Generation), cancellationToken);
        SnapshotBytes = snapshot?.Length ?? 0;
        if (snapshot is not null) Parse(snapshot, changes);
        var log = await blobs.TryGetPropertiesAsync(BlobLayout.IndexLog(Shard, Generation), cancellationToken);
        _logExists = log is not null;
        if (log is null)
        {
            (LogBytes, Blocks) = (0, 0);
            return changes;
        }
        var bytes = await blobs.TryDownloadAsync(log.Name, cancellationToken) ?? [];
        (LogBytes, Blocks) = (bytes.Length, (int)Math.Min(int.MaxValue, log.AppendBlocks ?? 0));
        Parse(bytes, changes);
        return changes;
    }

    private void Parse(byte[] jsonLines, List<Change> into)
    {
        foreach (var line in Encoding.UTF8.GetString(jsonLines).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            try { into.Add(ParseLine(line)); }
            catch (JsonException) { UnreadableLines++; }
        }
    }

    private static Change ParseLine(string line)
    {
        if (line.StartsWith("{\"removed\":", StringComparison.Ordinal))
            return new Change(null, JsonSerializer.Deserialize<Removal>(line, Json)!.Removed);
        return new Change(JsonSerializer.Deserialize<VideoIndexEntry>(line, Json) ?? throw new JsonException("null entry"), null);
    }

    public static string Line(Change change) => change.Entry is { } e
        ? JsonSerializer.Serialize(e, Json)
        : JsonSerializer.Serialize(new Removal(change.Removed!), Json);

    /// <summary>Appends the changes as one block (or a few, past 4 MiB); throws <see cref="ShardLogConflictException"/> on a concurrent writer.</summary>
    public async Task AppendAsync(IReadOnlyList<Change> changes, CancellationToken cancellationToken = default)
    {
        if (changes.Count == 0) return;
        await blobs.EnsureContainerAsync(cancellationToken);
        var log = blobs.Container.GetAppendBlobClient(BlobLayout.IndexLog(Shard, Generation));
        if (!_logExists)
        {
            try
            {
                await log.CreateAsync(new AppendBlobCreateOptions { Conditions = new AppendBlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                // A create whose response was lost meets its own blob on the retry: an empty log is the same whoever made it.
                var existing = await blobs.TryGetPropertiesAsync(log.Name, cancellationToken);
                if (existing is not { Size: 0 } || LogBytes != 0)
                    throw new ShardLogConflictException($"index shard {Shard}: log generation {Generation} was created by another writer", e);
            }
            _logExists = true;
        }
        foreach (var chunk in Chunks(changes))
        {
            int blocks;
            try
            {
                using var stream = new MemoryStream(chunk, writable: false);
                var options = new AppendBlobAppendBlockOptions { Conditions = new AppendBlobRequestConditions { IfAppendPositionEqual = LogBytes } };
                var response = await log.AppendBlockAsync(stream, options, cancellationToken);
                blocks = response.Value.BlobCommittedBlockCount;
            }
            catch (RequestFailedException e) when (e.Status == 412 && e.ErrorCode == BlobErrorCode.AppendPositionConditionNotMet)
            {
                // The outcome is unknown: the SDK retries a block whose response was lost, and the retry meets the block
                // itself at the position it expected. Read the log back from there to tell that from another writer.
                var (tail, committed) = await ReadFromAsync(log, LogBytes, cancellationToken);
                var outcome = UnknownWrites.ResolveAppend(chunk, tail);
                if (outcome != AppendReadBack.Appended)
                    throw new ShardLogConflictException($"index shard {Shard}: the log changed under this writer ({e.Status} {e.ErrorCode}; read back: {outcome})", e);
                blocks = committed;
                LostResponses++;
            }
            catch (RequestFailedException e) when (e.Status is 404 or 409 or 412)
            {
                throw new ShardLogConflictException($"index shard {Shard}: the log changed under this writer ({e.Status} {e.ErrorCode})", e);
            }
            LogBytes += chunk.Length;
            Blocks = blocks;
            BytesWritten += chunk.Length;
        }
    }

    /// <summary>The log's bytes from <paramref name="offset"/> on (empty when it ends there) and its committed block count.</summary>
    private static async Task<(byte[] Tail, int Blocks)> ReadFromAsync(AppendBlobClient log, long offset, CancellationToken cancellationToken)
    {
        try
        {
            var response = await log.DownloadContentAsync(new BlobDownloadOptions { Range = new HttpRange(offset) }, cancellationToken);
            return (response.Value.Content.ToArray(), response.Value.Details.BlobCommittedBlockCount);
        }
        catch (RequestFailedException e) when (e.Status == 416) // nothing after the offset
        {
            var properties = await log.GetPropertiesAsync(cancellationToken: cancellationToken);
            return ([], properties.Value.BlobCommittedBlockCount);
        }
    }

    private static IEnumerable<byte[]> Chunks(IReadOnlyList<Change> changes)
    {
        var buffer = new StringBuilder();
        foreach (var change in changes)
        {
            var line = Line(change) + "\n";
            if (buffer.Length > 0 && Encoding.UTF8.GetByteCount(buffer.ToString()) + Encoding.UTF8.GetByteCount(line) > MaxBlockBytes)
            {
                yield return Encoding.UTF8.GetBytes(buffer.ToString());
                buffer.Clear();
            }
            buffer.Append(line);
        }
        if (buffer.Length > 0) yield return Encoding.UTF8.GetBytes(buffer.ToString());
    }

    /// <summary>
    /// Writes every entry as the next generation's snapshot, starts its empty log, then moves the head to it (conditional on
    /// the head this instance read) and deletes the previous generation. A crash before the head moves leaves the old
    /// generation current and intact.
    /// </summary>
    public async Task CompactAsync(IEnumerable<VideoIndexEntry> entries, CancellationToken cancellationToken = default)
    {
        var next = Generation + 1;
        var snapshot = new StringBuilder();
        foreach (var e in entries) snapshot.Append(Line(new Change(e, null))).Append('\n');
        var bytes = Encoding.UTF8.GetBytes(snapshot.ToString());
        await blobs.UploadAsync(BlobLayout.IndexSnapshot(Shard, next), bytes, contentType: "application/x-ndjson", cancellationToken: cancellationToken);
        var log = blobs.Container.GetAppendBlobClient(BlobLayout.IndexLog(Shard, next));
        await log.DeleteIfExistsAsync(cancellationToken: cancellationToken); // a leftover of a compaction that crashed before its head moved
        await log.CreateAsync(new AppendBlobCreateOptions(), cancellationToken);
        var head = JsonSerializer.SerializeToUtf8Bytes(new Head(next), Json);
        try
        {
            _headETag = await blobs.UploadConditionalAsync(BlobLayout.IndexHead(Shard), head, _headETag, contentType: "application/json", cancellationToken: cancellationToken);
        }
        catch (BlobConflictException e)
        {
            throw new ShardLogConflictException($"index shard {Shard}: another writer moved the head while this one compacted", e);
        }
        var previous = Generation;
        (Generation, LogBytes, Blocks, SnapshotBytes, _logExists) = (next, 0, 0, bytes.Length, true);
        BytesWritten += bytes.Length + head.Length;
        await blobs.DeleteIfExistsAsync(BlobLayout.IndexLog(Shard, previous), cancellationToken);
        await blobs.DeleteIfExistsAsync(BlobLayout.IndexSnapshot(Shard, previous), cancellationToken);
    }

    private sealed record Head(long Generation);
    private sealed record Removal(string Removed);
}
