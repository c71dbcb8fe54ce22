using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Azure;
using Azure.Storage.Blobs.Models;
using System.Security.Cryptography;
using Azure.Storage.Blobs.Specialized;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains.Index;

/// <summary>Another writer appended to or compacted this shard's log since it was loaded: reload before writing again.</summary>
public sealed class ShardLogConflictException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Durable form of one index shard: a snapshot (JSON lines, one entry each) plus a log of the changes since (one JSON line
/// per change, one block per group commit), under a head blob naming the current generation.
/// The log is a block blob: an append stages the new block (Put Block) and commits the block list it knows plus the new
/// block's id (Put Block List, If-Match the ETag of its last commit; If-None-Match for the generation's first). Every
/// Azure-Blob-compatible store serves those two operations; Append Block is not served by all (Azurite with SQL
/// metadata answers 501). A second writer is detected (its commit fails its ETag), never interleaved; a commit whose
/// response was lost is resolved by reading the committed block list back (a block's id hashes its place and its lines).
/// Cost: each commit resends the segment's committed block ids, so a log is a chain of segments (blobs) of at most
/// <see cref="SegmentBlocks"/> blocks each: a list costs at most 64 ids (1.6 KB), whatever the shard's size. The log is
/// compacted once what its appends sent (lines plus block lists) exceeds the snapshot: rewriting costs at most as much as
/// the appends did, constant work per change whatever the corpus size. Logs written by earlier versions as append blobs are read as before and replaced by the
/// block layout at the first compaction (<see cref="IsLegacyLog"/>: the index grain compacts on activation).
/// </summary>
public sealed class ShardLog(BlobStore blobs, int shard, long minCompactBytes = 256 << 10)
{
    /// <summary>Blocks per log segment: each commit lists them all (25 bytes each), so this bounds a commit's size.</summary>
    public const int SegmentBlocks = 64;
    private const int MaxBlockBytes = 4 << 20;
    /// <summary>Bytes per block id (8 base64 characters; a blob's ids must all have one length).</summary>
    private const int BlockIdBytes = 6;
    /// <summary>What one committed block adds to each Put Block List body: <c>&lt;Latest&gt;xxxxxxxx&lt;/Latest&gt;</c>.</summary>
    public const int ListBytesPerBlock = 25;

    /// <summary>How the log is stored (benchmark output).</summary>
    public const string Layout = "block blob (Put Block + Put Block List, If-Match)";

    private static readonly JsonSerializerOptions Json = CreateJson();
    private string? _headETag;
    /// <summary>The ETag of the log as this instance last committed or read it; null when the generation has no log blob yet.</summary>
    private string? _logETag;
    /// <summary>The current segment's committed block ids, as this instance last committed or read them.</summary>
    private List<string> _blockIds = [];
    /// <summary>The generation's last segment (the one appends commit to).</summary>
    private int _segment;

    public int Shard { get; } = shard;
    public long Generation { get; private set; }
    public long LogBytes { get; private set; }
    public long SnapshotBytes { get; private set; }
    /// <summary>Blocks in the generation's log, all segments together.</summary>
    public int Blocks { get; private set; }
    /// <summary>Bytes this instance wrote (blocks, block lists, snapshots, heads): the benchmark's bytes-per-video figure.</summary>
    public long BytesWritten { get; private set; }
    /// <summary>Commits whose response was lost and that reading back found written (a sign storage crashed or the network cut).</summary>
    public int LostResponses { get; private set; }
    /// <summary>Log lines that could not be read back (reported, skipped).</summary>
    public int UnreadableLines { get; private set; }
    /// <summary>The current log is an append blob of an earlier version: readable, not appendable; compact before writing.</summary>
    public bool IsLegacyLog { get; private set; }

    /// <summary>Bytes of block lists the appends of a segment of <paramref name="blocks"/> blocks have sent (each commit lists every block so far).</summary>
    public static long ListBytes(int blocks) => ListBytesPerBlock * (long)blocks * (blocks + 1) / 2;

    /// <summary>Bytes of block lists this generation's appends have sent: its full segments and the current one.</summary>
    private long GenerationListBytes => IsLegacyLog ? 0 : _segment * ListBytes(SegmentBlocks) + ListBytes(_blockIds.Count);

    /// <summary>Segments of the current generation's log (1 when it has none yet).</summary>
    public int Segments => _segment + 1;

    public bool ShouldCompact => IsLegacyLog || LogBytes + GenerationListBytes > Math.Max(minCompactBytes, SnapshotBytes);

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
        (_logETag, _blockIds, _segment, LogBytes, Blocks, IsLegacyLog) = (null, [], 0, 0, 0, false);
        for (var segment = 0; ; segment++)
        {
            var log = await ReadSegmentAsync(segment, cancellationToken);
            if (log is null) break;
            LogBytes += log.Length;
            Parse(log, changes);
            if (IsLegacyLog) break; // earlier versions wrote one append blob per generation
        }
        return changes;
    }

    /// <summary>
    /// One segment's content, or null when it does not exist. A segment followed by none is the current one: its committed
    /// block ids and ETag are read at the same version as its content (read again when a commit lands between the reads).
    /// An append blob (an earlier version's log) is read whole and marked legacy.
    /// </summary>
    private async Task<byte[]?> ReadSegmentAsync(int segment, CancellationToken cancellationToken)
    {
        var log = blobs.Container.GetBlockBlobClient(BlobLayout.IndexLog(Shard, Generation, segment));
        for (var attempt = 1; ; attempt++)
        {
            BlobDownloadResult content;
            try { content = (await log.DownloadContentAsync(cancellationToken)).Value; }
            catch (RequestFailedException e) when (e.Status == 404) { return null; }
            var bytes = content.Content.ToArray();
            if (content.Details.BlobType == BlobType.Append)
            {
                (IsLegacyLog, Blocks) = (true, content.Details.BlobCommittedBlockCount);
                return bytes;
            }
            BlockList list;
            try { list = (await log.GetBlockListAsync(BlockListTypes.Committed, cancellationToken: cancellationToken)).Value; }
            catch (RequestFailedException e) when (e.Status == 404 && attempt < 5) { continue; } // deleted between the reads (a compaction): read again
            if (SameVersion(list, content.Details.ETag, bytes.Length))
            {
                var ids = list.CommittedBlocks.Select(b => b.Name).ToList();
                (_logETag, _blockIds, _segment) = (content.Details.ETag.ToString(), ids, segment);
                Blocks += ids.Count;
                return bytes;
            }
            if (attempt >= 5)
                throw new ShardLogConflictException($"index shard {Shard}: log generation {Generation} kept changing while it was read");
        }
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

    /// <summary>
    /// Appends the changes as one block (a few, past 4 MiB, committed together); throws <see cref="ShardLogConflictException"/>
    /// on a concurrent writer. A legacy (append blob) log must be compacted first.
    /// </summary>
    public async Task AppendAsync(IReadOnlyList<Change> changes, CancellationToken cancellationToken = default)
    {
        if (changes.Count == 0) return;
        if (IsLegacyLog)
            throw new InvalidOperationException($"index shard {Shard}: log generation {Generation} is an append blob of an earlier version; compact before appending");
        await blobs.EnsureContainerAsync(cancellationToken);
        if (_blockIds.Count >= SegmentBlocks)
        {
            // The segment is full: this commit starts the next one (If-None-Match: a second writer doing the same conflicts).
            (_segment, _logETag, _blockIds) = (_segment + 1, null, []);
        }
        var log = blobs.Container.GetBlockBlobClient(BlobLayout.IndexLog(Shard, Generation, _segment));
        var ours = new List<string>();
        long bytes = 0;
        foreach (var chunk in Chunks(changes))
        {
            var id = BlockId(ours.Count > 0 ? ours[^1] : _blockIds.Count > 0 ? _blockIds[^1] : $"{Generation}/{_segment}", chunk, ours);
            using var stream = new MemoryStream(chunk, writable: false);
            await log.StageBlockAsync(id, stream, cancellationToken: cancellationToken);
            ours.Add(id);
            bytes += chunk.Length;
        }
        var list = new List<string>(_blockIds.Count + ours.Count);
        list.AddRange(_blockIds);
        list.AddRange(ours);
        var options = new CommitBlockListOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/x-ndjson" },
            Conditions = _logETag is null ? new BlobRequestConditions { IfNoneMatch = ETag.All } : new BlobRequestConditions { IfMatch = new ETag(_logETag) },
        };
        try
        {
            _logETag = (await log.CommitBlockListAsync(list, options, cancellationToken)).Value.ETag.ToString();
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412 && e.ErrorCode is "ConditionNotMet" or "BlobAlreadyExists")
        {
            // The outcome is unknown: the SDK retries a commit whose response was lost, and the retry meets the commit itself
            // as a changed ETag (or an existing blob). Read the committed list back to tell that from another writer.
            var (committed, etag) = await CommittedAsync(log, cancellationToken);
            var outcome = UnknownWrites.ResolveCommit(_blockIds, ours, committed);
            if (outcome != AppendReadBack.Appended)
                throw new ShardLogConflictException($"index shard {Shard}: the log changed under this writer ({e.Status} {e.ErrorCode}; read back: {outcome})", e);
            _logETag = etag;
            LostResponses++;
        }
        catch (RequestFailedException e) when (e.Status is 404 or 409 or 412 || e.ErrorCode == "InvalidBlockList")
        {
            // InvalidBlockList: a block we listed is gone (another writer's commit discarded our staged one, or rewrote the log).
            throw new ShardLogConflictException($"index shard {Shard}: the log changed under this writer ({e.Status} {e.ErrorCode})", e);
        }
        _blockIds = list;
        Blocks += ours.Count;
        LogBytes += bytes;
        BytesWritten += bytes + (long)ListBytesPerBlock * list.Count;
    }

    /// <summary>
    /// Whether storage still holds the head and the current log segment as this instance last wrote or read them (two reads,
    /// no content). False means another writer, or a storage that crashed and came back without commits it had acknowledged:
    /// either way this instance must load the log again before appending.
    /// </summary>
    public async Task<bool> MatchesStorageAsync(CancellationToken cancellationToken = default)
    {
        var head = await blobs.TryGetPropertiesAsync(BlobLayout.IndexHead(Shard), cancellationToken);
        if (head?.ETag != _headETag) return false;
        if (IsLegacyLog) return true; // read-only until compacted (which checks the head)
        var log = await blobs.TryGetPropertiesAsync(BlobLayout.IndexLog(Shard, Generation, _segment), cancellationToken);
        return log?.ETag == _logETag;
    }

    /// <summary>
    /// The id of a block: a hash of the block before it (the segment's start for the first) and its bytes, unlike every id the
    /// segment holds. The same lines appended again at the same place get the same id, so a flush retried after a commit
    /// whose answer was lost (storage went away meanwhile) finds its own block committed when it reads the list back, as the
    /// append blob's read-back found its own bytes. Another writer's block can only share the id by being the same lines at
    /// the same place: the same change anyway.
    /// </summary>
    private string BlockId(string previous, byte[] chunk, List<string> staged)
    {
        for (var salt = 0; ; salt++)
        {
            var hash = SHA256.HashData([.. Encoding.UTF8.GetBytes($"{previous}|{salt}|"), .. chunk]);
            var id = Convert.ToBase64String(hash, 0, BlockIdBytes);
            if (!staged.Contains(id) && !_blockIds.Contains(id)) return id;
        }
    }

    /// <summary>
    /// Whether a block list was read at the version of a content read (ETag, length). Get Block List does not always carry
    /// the ETag (Azure only for blobs with committed blocks; Azurite with SQL metadata never), so the length decides: commits
    /// only add non-empty blocks, so a list whose blocks add up to the content's length is the list of that version.
    /// </summary>
    private static bool SameVersion(BlockList list, ETag etag, long length) =>
        (list.ETag == default || list.ETag == etag) && list.CommittedBlocks.Sum(b => b.SizeLong) == length;

    /// <summary>The log's committed block ids and the ETag of that version (null ids when it does not exist).</summary>
    private async Task<(IReadOnlyList<string>? Ids, string? ETag)> CommittedAsync(BlockBlobClient log, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var properties = (await log.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
                var list = (await log.GetBlockListAsync(BlockListTypes.Committed, cancellationToken: cancellationToken)).Value;
                if (SameVersion(list, properties.ETag, properties.ContentLength))
                    return (list.CommittedBlocks.Select(b => b.Name).ToList(), properties.ETag.ToString());
            }
            catch (RequestFailedException e) when (e.Status == 404) { return (null, null); }
            if (attempt >= 5)
                throw new ShardLogConflictException($"index shard {Shard}: log generation {Generation} kept changing while it was read back");
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
        var logName = BlobLayout.IndexLog(Shard, next);
        await blobs.DeleteIfExistsAsync(logName, cancellationToken); // a leftover of a compaction that crashed before its head moved
        var logETag = await blobs.UploadAsync(logName, ReadOnlyMemory<byte>.Empty, contentType: "application/x-ndjson", cancellationToken: cancellationToken);
        var head = JsonSerializer.SerializeToUtf8Bytes(new Head(next), Json);
        try
        {
            _headETag = await blobs.UploadConditionalAsync(BlobLayout.IndexHead(Shard), head, _headETag, contentType: "application/json", cancellationToken: cancellationToken);
        }
        catch (BlobConflictException e)
        {
            throw new ShardLogConflictException($"index shard {Shard}: another writer moved the head while this one compacted", e);
        }
        var (previous, segments) = (Generation, _segment);
        (Generation, LogBytes, Blocks, SnapshotBytes, _logETag, _blockIds, _segment, IsLegacyLog) = (next, 0, 0, bytes.Length, logETag, [], 0, false);
        BytesWritten += bytes.Length + head.Length;
        for (var segment = segments; segment >= 0; segment--)
            await blobs.DeleteIfExistsAsync(BlobLayout.IndexLog(Shard, previous, segment), cancellationToken);
        await blobs.DeleteIfExistsAsync(BlobLayout.IndexSnapshot(Shard, previous), cancellationToken);
    }

    private sealed record Head(long Generation);
    private sealed record Removal(string Removed);
}
