using System.Text.Json;
using LvMae.Contracts;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace LvMae.Grains.Index;

/// <summary>
/// One shard of the corpus index: <see cref="IndexShard"/> (what queries read, in memory), <see cref="ShardLog"/> (what makes
/// it durable: snapshot + log of changes in blob storage) and <see cref="WorkDispatcher"/> (which of its unfinished videos
/// work now). Reentrant so concurrent upserts share one append (group commit): an upsert returns only after an append that
/// includes it. While any of its videos is unfinished the shard keeps an Orleans reminder, so a shard lost with its silo
/// comes back (on a live silo) and drives its videos on.
/// </summary>
[Reentrant]
[GrainType("lvmae.corpus-index")]
public sealed class CorpusIndexGrain(
    BlobStore blobs,
    GrainStateBlobs states,
    IndexLayout layout,
    IOptions<ProcessingOptions> options,
    IOptions<IndexOptions> indexOptions,
    IClusterMembershipService membership,
    ILogger<CorpusIndexGrain> logger) : Grain, ICorpusIndexGrain, IRemindable
{
    public const string DispatchReminder = "dispatch";

    private readonly ProcessingOptions _options = options.Value;
    private readonly IndexShard _index = new();
    private ShardLog _log = null!;
    private WorkDispatcher _dispatcher = null!;
    private readonly List<ShardLog.Change> _unwritten = [];
    private TaskCompletionSource? _pendingFlush;
    private Task? _writer;
    private CorpusSummary? _summary;
    private IGrainTimer? _timer;
    private bool _reminderOn;
    private readonly OutageWatch _outage = new(indexOptions.Value.OutageLookBack);
    /// <summary>Checks storage while recent changes are at risk (<see cref="CheckStorageWhileAtRisk"/>).</summary>
    private IGrainTimer? _storageCheck;
    /// <summary>The next flush first compares the log on storage with this shard's (a storage check).</summary>
    private bool _checkLog;
    /// <summary>The next flush first loads the log again: storage no longer holds the one this shard wrote.</summary>
    private bool _reloadLog;
    private Task? _rechecking;

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Shard < 0 || Shard >= layout.Shards) throw new ArgumentOutOfRangeException(nameof(Shard), Shard, $"index shard {Shard} is outside this cluster's {layout.Shards} shards");
        _log = new ShardLog(blobs, Shard, indexOptions.Value.CompactBytes);
        foreach (var change in await _log.LoadAsync(cancellationToken))
            if (change.Entry is { } e) _index.Apply(e); else _index.Remove(change.Removed!);
        if (_log.UnreadableLines > 0) logger.LogWarning("index shard {Shard}: {Count} unreadable log line(s) skipped", Shard, _log.UnreadableLines);
        if (_log.IsLegacyLog)
        {
            // An earlier version's append-blob log: readable, not appendable here. Its content moves into the next generation's
            // snapshot, whose log is a block blob (the compaction is the same as any other: crash-safe, conditional on the head).
            logger.LogInformation("index shard {Shard}: moving log generation {Generation} from an append blob to the block-blob layout", Shard, _log.Generation);
            await _log.CompactAsync(_index.Entries, cancellationToken);
        }
        _dispatcher = new WorkDispatcher(GrainFactory, DispatchCapacity, logger, Shard);
        _reminderOn = await this.GetReminder(DispatchReminder) is not null;
        WorkChanged();
    }

    /// <summary>In flight per shard: enough to keep every silo's job slots busy (with a queue of one behind each), at least 2.</summary>
    private int DispatchCapacity()
    {
        var silos = Math.Max(1, membership.CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active));
        var slots = silos * _options.MaxConcurrentJobs * _options.DispatchOvercommit;
        return Math.Max(_options.MinDispatchPerShard, (int)Math.Ceiling(slots / (double)layout.Shards));
    }

    // ---- writes ---------------------------------------------------------------------------------------------------------

    public Task Upsert(VideoIndexEntry entry) => UpsertMany([entry]);

    public Task UpsertMany(IReadOnlyList<VideoIndexEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (layout.ShardOf(entry.Id) != Shard) throw new ArgumentException($"video {entry.Id} belongs to index shard {layout.ShardOf(entry.Id)}, not {Shard}");
            if (!_index.Apply(entry)) continue;
            _unwritten.Add(new ShardLog.Change(entry, null));
            _dispatcher.Changed(entry.Id, IndexShard.IsFinished(entry.Stage));
            _outage.Changed([entry.Id], DateTimeOffset.UtcNow);
        }
        CheckStorageWhileAtRisk();
        return AfterChangeAsync();
    }

    public Task Remove(IReadOnlyList<string> videoIds)
    {
        foreach (var id in videoIds)
            if (_index.Remove(id))
            {
                _unwritten.Add(new ShardLog.Change(null, id));
                _dispatcher.Changed(id, finished: true);
                _outage.Changed([id], DateTimeOffset.UtcNow);
            }
        CheckStorageWhileAtRisk();
        return AfterChangeAsync();
    }

    /// <summary>Unchanged upserts (re-publications) cost no write, unless an earlier write failed: then the caller's retry waits for it.</summary>
    private async Task AfterChangeAsync()
    {
        if (_unwritten.Count == 0 && _pendingFlush is null) return;
        _summary = null;
        var flush = FlushAsync();
        WorkChanged();
        await flush;
    }

    private Task FlushAsync()
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
            var changes = _unwritten.ToList(); // this append carries every change applied so far
            _unwritten.Clear();
            try
            {
                if (_checkLog)
                {
                    _checkLog = false;
                    if (!await _log.MatchesStorageAsync()) _reloadLog = true;
                }
                if (_reloadLog) await ReloadLogAsync();
                var lost = _log.LostResponses;
                await _log.AppendAsync(changes);
                // A lost response resolved by reading back: storage may have crashed and lost its last writes (states too),
                // even when its outage was too short for any write to fail. Re-check as after an outage.
                if (_log.LostResponses != lost) _outage.WriteFailed(changes.Select(c => c.Entry?.Id ?? c.Removed!), DateTimeOffset.UtcNow);
                if (_log.ShouldCompact) await _log.CompactAsync(_index.Entries);
                batch.SetResult();
                StorageAnswered();
            }
            catch (Exception e)
            {
                _unwritten.InsertRange(0, changes); // written with the next flush
                logger.LogWarning("index shard {Shard}: write failed: {Message}", Shard, e.Message);
                batch.SetException(e);
                var ids = changes.Select(c => c.Entry?.Id ?? c.Removed!);
                if (e is ShardLogConflictException)
                {
                    // The log is not what this shard last wrote: a storage that crashed and lost commits it had acknowledged
                    // (or, rarely, another writer). Load it again before the next append, and treat it as an outage: the
                    // videos this shard changed lately are re-checked against their states once the next write succeeds.
                    _reloadLog = true;
                    StorageOut(ids);
                }
                else if (VideoFailures.IsStorageOutage(e)) StorageOut(ids);
            }
        }
    }

    /// <summary>
    /// Loads the log storage holds now and keeps serving the live entries: those that differ from the log (lost appends, or
    /// another writer's) join the outage's re-check, which compares each with its video's state and appends the truth.
    /// </summary>
    private async Task ReloadLogAsync()
    {
        var log = new ShardLog(blobs, Shard, indexOptions.Value.CompactBytes);
        var logged = new IndexShard();
        foreach (var change in await log.LoadAsync())
            if (change.Entry is { } e) logged.Apply(e); else logged.Remove(change.Removed!);
        var differ = _index.Entries.Where(e => logged.Get(e.Id) is not { } l || !l.SameAs(e)).Select(e => e.Id)
            .Concat(logged.Entries.Where(e => _index.Get(e.Id) is null).Select(e => e.Id))
            .ToList();
        logger.LogWarning("index shard {Shard}: storage no longer holds the log this shard wrote (a storage crash, or another writer); reloaded generation {Generation}: {Count} entries differ from it and are re-checked against their states",
            Shard, log.Generation, differ.Count);
        _log = log;
        _reloadLog = false;
        _outage.WriteFailed(differ, DateTimeOffset.UtcNow);
        if (log.IsLegacyLog) await log.CompactAsync(_index.Entries);
    }

    // ---- after an outage --------------------------------------------------------------------------------------------------

    /// <summary>Storage failed a write: note what it carried and keep checking storage until it answers.</summary>
    private void StorageOut(IEnumerable<string> ids)
    {
        _outage.WriteFailed(ids, DateTimeOffset.UtcNow);
        CheckStorageWhileAtRisk();
    }

    /// <summary>
    /// While a crash could still lose one of this shard's recent changes (or an outage is open), the shard checks storage every
    /// <see cref="IndexOptions.OutageProbeInterval"/>, even with nothing to write: a shard that wrote nothing while storage was
    /// out would otherwise never learn that storage came back without its last commits (a SIGKILLed storage does).
    /// </summary>
    private void CheckStorageWhileAtRisk()
    {
        if (_storageCheck is not null || !_outage.AtRisk(DateTimeOffset.UtcNow)) return;
        var every = indexOptions.Value.OutageProbeInterval;
        _storageCheck = this.RegisterGrainTimer(_ => CheckStorageAsync(), new GrainTimerCreationOptions(every, every) { Interleave = true, KeepAlive = true });
    }

    /// <summary>
    /// Compares the log storage holds with the one this shard wrote (reloading it when they differ) and writes what is
    /// unwritten; a failure opens (or keeps) an outage, a success ends it and starts its re-check.
    /// </summary>
    private async Task CheckStorageAsync()
    {
        if (!_outage.AtRisk(DateTimeOffset.UtcNow))
        {
            _storageCheck?.Dispose();
            _storageCheck = null;
            return;
        }
        _checkLog = true;
        try { await FlushAsync(); }
        catch (Exception e) { logger.LogDebug("index shard {Shard}: storage check failed: {Message}", Shard, e.Message); }
    }

    /// <summary>A write or read succeeded: after an outage, re-check the videos it touched (once; a re-check in progress goes on).</summary>
    private void StorageAnswered()
    {
        var ids = _outage.Succeeded();
        if (ids.Count == 0) return;
        var previous = _rechecking ?? Task.CompletedTask;
        _rechecking = RecheckAfterAsync(previous, ids);
    }

    private async Task RecheckAfterAsync(Task previous, IReadOnlyCollection<string> ids)
    {
        try { await previous; } catch (Exception) { /* logged by itself */ }
        try { await RecheckAsync(ids); }
        catch (Exception e) { logger.LogWarning("index shard {Shard}: re-check after the outage failed: {Message}", Shard, e.Message); }
    }

    /// <summary>
    /// Each video touched during an outage, against its persisted state (the audit's comparison): an entry that disagrees is
    /// replaced by the state's (a removal line first, so replaying the log cannot bring a newer-versioned lost entry back), and
    /// the video's activation is told to read storage again (it may hold a state storage lost); unfinished videos then resume
    /// through the dispatch. Entries that agree are written again, in case storage lost their appends too.
    /// </summary>
    private async Task RecheckAsync(IReadOnlyCollection<string> ids)
    {
        logger.LogInformation("index shard {Shard}: storage answers again; re-checking {Count} video(s) touched during the outage", Shard, ids.Count);
        var reload = new List<string>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (var chunk in ids.Chunk(32))
            {
                var reads = await Task.WhenAll(chunk.Select(async id => (Id: id, Before: _index.Get(id), State: await ReadStateAsync(id))));
                foreach (var (id, before, stored) in reads)
                {
                    done.Add(id);
                    var current = _index.Get(id);
                    if (!ReferenceEquals(before, current)) continue; // it changed while we read: a live video reports itself
                    var (verdict, expected) = IndexChecks.Compare(id, stored, current);
                    switch (verdict)
                    {
                        case IndexVerdict.Agrees when current is not null:
                            _unwritten.Add(new ShardLog.Change(current, null));
                            continue;
                        case IndexVerdict.Agrees:
                            continue;
                        case IndexVerdict.Phantom:
                            _index.Remove(id);
                            _unwritten.Add(new ShardLog.Change(null, id));
                            _dispatcher.Changed(id, finished: true);
                            break;
                        default: // Missing, Stale, Ahead
                            _index.Remove(id);
                            _index.Apply(expected!);
                            _unwritten.Add(new ShardLog.Change(null, id));
                            _unwritten.Add(new ShardLog.Change(expected, null));
                            _dispatcher.Changed(id, IndexShard.IsFinished(expected!.Stage));
                            break;
                    }
                    logger.LogWarning("index shard {Shard}: after the outage, video {Id}: index had {Indexed} (version {IndexedVersion}), storage holds {Stored} (version {StoredVersion}): {Verdict}, repaired",
                        Shard, id, current?.Stage.ToString() ?? "nothing", current?.Version, stored?.Stage.ToString() ?? "nothing", stored?.Version, verdict);
                    reload.Add(id);
                }
            }
        }
        catch (Exception e) when (VideoFailures.IsStorageOutage(e))
        {
            StorageOut(ids.Where(id => !done.Contains(id))); // the rest waits for storage's next answer
        }
        finally
        {
            _summary = null;
            if (_unwritten.Count > 0)
            {
                try { await FlushAsync(); }
                catch (Exception e) { logger.LogWarning("index shard {Shard}: writing the re-check's repairs failed (retried with the next write): {Message}", Shard, e.Message); }
            }
            WorkChanged();
        }
        await Task.WhenAll(reload.Select(async id =>
        {
            try { await GrainFactory.GetGrain<IVideoGrain>(id).Recheck(); }
            catch (Exception e) { logger.LogWarning("index shard {Shard}: video {Id} could not re-read its state: {Message}", Shard, id, e.Message); }
        }));
    }

    private async Task<VideoState?> ReadStateAsync(string id)
    {
        var bytes = await states.Store.TryDownloadAsync(GrainStateBlobs.VideoPrefix + id + ".json");
        return bytes is null || bytes.Length == 0 ? null : JsonSerializer.Deserialize<VideoState>(bytes, GrainStateJson.Options);
    }

    // ---- work dispatch ----------------------------------------------------------------------------------------------------

    /// <summary>
    /// Fills the dispatch and keeps the timer (this activation) on while work is left; makes sure the reminder (across silo
    /// loss) is registered. The reminder is removed only by its own tick finding no work, so a shard whose queue empties and
    /// refills many times a second (imports) costs no table write per change.
    /// </summary>
    private void WorkChanged()
    {
        _dispatcher.Fill(_index);
        var work = _index.QueueLength > 0;
        if (work && _timer is null)
            _timer = this.RegisterGrainTimer(_ => _dispatcher.TickAsync(_index), new GrainTimerCreationOptions(_options.DispatchInterval, _options.DispatchInterval) { Interleave = true, KeepAlive = true });
        else if (!work && _timer is not null)
        {
            _timer.Dispose();
            _timer = null;
        }
        if (work && !_reminderOn && _registering is not { IsCompleted: false }) _registering = RegisterReminderAsync();
    }

    private Task? _registering;

    private async Task RegisterReminderAsync()
    {
        try
        {
            await this.RegisterOrUpdateReminder(DispatchReminder, _options.DispatchReminderPeriod, _options.DispatchReminderPeriod);
            _reminderOn = true;
        }
        catch (Exception e)
        {
            // Tried again on the next change; the timer drives work meanwhile.
            logger.LogWarning("index shard {Shard}: registering the dispatch reminder failed: {Message}", Shard, e.Message);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != DispatchReminder) return;
        await _dispatcher.TickAsync(_index);
        WorkChanged();
        if (_index.QueueLength == 0 && await this.GetReminder(DispatchReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
            _reminderOn = false;
        }
    }

    // ---- queries ----------------------------------------------------------------------------------------------------------

    public Task<CorpusSummary> Summary() => Task.FromResult(_summary ??= _index.Summary());

    public Task<ShardPage> Query(VideoQuery query, string? afterId) => Task.FromResult(_index.Query(query, afterId));

    public Task<VideoIndexEntry?> Get(string videoId) => Task.FromResult(_index.Get(videoId));

    public Task<IReadOnlyList<VideoIndexEntry>> GetMany(IReadOnlyList<string> videoIds) =>
        Task.FromResult<IReadOnlyList<VideoIndexEntry>>(videoIds.Select(_index.Get).OfType<VideoIndexEntry>().ToList());

    public Task<IndexShardHealth> Health() => Task.FromResult(new IndexShardHealth
    {
        Shard = Shard,
        Entries = _index.Count,
        Pending = _index.QueueLength,
        InFlight = _dispatcher.InFlight,
        Generation = _log.Generation,
        LogBytes = _log.LogBytes,
        BytesWritten = _log.BytesWritten,
        Parked = _dispatcher.Parked,
    });
}
