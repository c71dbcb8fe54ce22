using LvMae.Storage;
using Microsoft.Extensions.Logging;

namespace LvMae.Grains.Index;

/// <summary>
/// An index shard's writes (group commit), for <see cref="CorpusIndexGrain"/>: changes applied to the shard wait in
/// <see cref="Unwritten"/>; a flush returns only after an append that carries every change applied before it. A failed append
/// keeps its changes for the next one and reports its videos to <paramref name="storageOut"/> when storage is out or the log
/// is not the one this shard wrote (then the log is loaded again before the next append); a successful one calls
/// <paramref name="answered"/>. Runs on its grain's scheduler, like the grain's own code (not thread-safe).
/// </summary>
public sealed class ShardWriter(
    BlobStore blobs,
    int shard,
    long compactBytes,
    IndexShard index,
    OutageWatch outage,
    ILogger logger,
    Action answered,
    Action<IEnumerable<string>> storageOut)
{
    private TaskCompletionSource? _pendingFlush;
    private Task? _writer;
    /// <summary>The next flush first compares the log on storage with this shard's (a storage check).</summary>
    private bool _checkLog;
    /// <summary>The next flush first loads the log again: storage no longer holds the one this shard wrote.</summary>
    private bool _reloadLog;

    /// <summary>The shard's log as this shard last wrote (or reloaded) it.</summary>
    public ShardLog Log { get; private set; } = new(blobs, shard, compactBytes);

    /// <summary>Changes applied to the shard and not yet appended, oldest first.</summary>
    public List<ShardLog.Change> Unwritten { get; } = [];

    /// <summary>A flush was asked for that no append has started to carry yet.</summary>
    public bool FlushPending => _pendingFlush is not null;

    /// <summary>The next flush first compares the log on storage with this shard's, and reloads it when they differ.</summary>
    public void CheckLogNext() => _checkLog = true;

    /// <summary>On activation: the log replayed into the shard; an earlier version's append-blob log is moved to block blobs.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        index.Replay(await Log.LoadAsync(cancellationToken));
        if (Log.UnreadableLines > 0) logger.LogWarning("index shard {Shard}: {Count} unreadable log line(s) skipped", shard, Log.UnreadableLines);
        if (Log.IsLegacyLog)
        {
            // An earlier version's append-blob log: readable, not appendable here. Its content moves into the next generation's
            // snapshot, whose log is a block blob (the compaction is the same as any other: crash-safe, conditional on the head).
            logger.LogInformation("index shard {Shard}: moving log generation {Generation} from an append blob to the block-blob layout", shard, Log.Generation);
            await Log.CompactAsync(index.Entries, cancellationToken);
        }
    }

    /// <summary>Completes once an append that includes every change in <see cref="Unwritten"/> now succeeded (or fails with it).</summary>
    public Task FlushAsync()
    {
        _pendingFlush ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = _pendingFlush.Task;
        if (_writer is null || _writer.IsCompleted) _writer = WriteLoopAsync();
        return task;
    }

    private async Task WriteLoopAsync()
    {
        while (_pendingFlush is { } batch)
        {
            _pendingFlush = null;
            var changes = Unwritten.ToList(); // this append carries every change applied so far
            Unwritten.Clear();
            try
            {
                if (_checkLog)
                {
                    _checkLog = false;
                    if (!await Log.MatchesStorageAsync()) _reloadLog = true;
                }
                if (_reloadLog) await ReloadLogAsync();
                var lost = Log.LostResponses;
                await Log.AppendAsync(changes);
                // A lost response resolved by reading back: storage may have crashed and lost its last writes (states too),
                // even when its outage was too short for any write to fail. Re-check as after an outage.
                if (Log.LostResponses != lost) outage.WriteFailed(changes.Select(c => c.Entry?.Id ?? c.Removed!), DateTimeOffset.UtcNow);
                if (Log.ShouldCompact) await Log.CompactAsync(index.Entries);
                batch.SetResult();
                answered();
            }
            catch (Exception e)
            {
                Unwritten.InsertRange(0, changes); // written with the next flush
                logger.LogWarning("index shard {Shard}: write failed: {Message}", shard, e.Message);
                batch.SetException(e);
                var ids = changes.Select(c => c.Entry?.Id ?? c.Removed!);
                if (e is ShardLogConflictException)
                {
                    // The log is not what this shard last wrote: a storage that crashed and lost commits it had acknowledged
                    // (or, rarely, another writer). Load it again before the next append, and treat it as an outage: the
                    // videos this shard changed lately are re-checked against their states once the next write succeeds.
                    _reloadLog = true;
                    storageOut(ids);
                }
                else if (VideoFailures.IsStorageOutage(e)) storageOut(ids);
            }
        }
    }

    /// <summary>
    /// Loads the log storage holds now and keeps serving the live entries: those that differ from the log (lost appends, or
    /// another writer's) join the outage's re-check, which compares each with its video's state and appends the truth.
    /// </summary>
    private async Task ReloadLogAsync()
    {
        var log = new ShardLog(blobs, shard, compactBytes);
        var logged = new IndexShard();
        logged.Replay(await log.LoadAsync());
        var differ = OutageRecheck.DifferFromLog(index, logged);
        logger.LogWarning("index shard {Shard}: storage no longer holds the log this shard wrote (a storage crash, or another writer); reloaded generation {Generation}: {Count} entries differ from it and are re-checked against their states",
            shard, log.Generation, differ.Count);
        Log = log;
        _reloadLog = false;
        outage.WriteFailed(differ, DateTimeOffset.UtcNow);
        if (log.IsLegacyLog) await log.CompactAsync(index.Entries);
    }
}
