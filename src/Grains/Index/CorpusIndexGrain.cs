using LvMae.Contracts;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace LvMae.Grains.Index;

/// <summary>
/// One shard of the corpus index: <see cref="IndexShard"/> (what queries read, in memory), <see cref="ShardWriter"/> over
/// <see cref="ShardLog"/> (what makes it durable: snapshot + log of changes in blob storage), <see cref="WorkDispatcher"/> (which
/// of its unfinished videos work now) and, after a storage outage, <see cref="OutageRecheck"/>. Reentrant so concurrent upserts
/// share one append (group commit): an upsert returns only after an append that includes it. While any of its videos is
/// unfinished the shard keeps an Orleans reminder, so a shard lost with its silo comes back (on a live silo) and drives its
/// videos on.
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
    private ShardWriter _writes = null!;
    private WorkDispatcher _dispatcher = null!;
    private CorpusSummary? _summary;
    private IGrainTimer? _timer;
    private bool _reminderOn;
    private readonly OutageWatch _outage = new(indexOptions.Value.OutageLookBack);
    /// <summary>Checks storage while recent changes are at risk (<see cref="CheckStorageWhileAtRisk"/>).</summary>
    private IGrainTimer? _storageCheck;
    private Task? _rechecking;

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Shard < 0 || Shard >= layout.Shards) throw new ArgumentOutOfRangeException(nameof(Shard), Shard, $"index shard {Shard} is outside this cluster's {layout.Shards} shards");
        _writes = new ShardWriter(blobs, Shard, indexOptions.Value.CompactBytes, _index, _outage, logger, StorageAnswered, StorageOut);
        await _writes.LoadAsync(cancellationToken);
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
            _writes.Unwritten.Add(new ShardLog.Change(entry, null));
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
                _writes.Unwritten.Add(new ShardLog.Change(null, id));
                _dispatcher.Changed(id, finished: true);
                _outage.Changed([id], DateTimeOffset.UtcNow);
            }
        CheckStorageWhileAtRisk();
        return AfterChangeAsync();
    }

    /// <summary>Unchanged upserts (re-publications) cost no write, unless an earlier write failed: then the caller's retry waits for it.</summary>
    private async Task AfterChangeAsync()
    {
        if (_writes.Unwritten.Count == 0 && !_writes.FlushPending) return;
        _summary = null;
        var flush = _writes.FlushAsync();
        WorkChanged();
        await flush;
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
        _writes.CheckLogNext();
        try { await _writes.FlushAsync(); }
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
    /// Each video touched during an outage, against its persisted state (<see cref="OutageRecheck"/>); the repairs are written,
    /// unfinished videos resume through the dispatch, and each repaired video's activation is told to read storage again (it
    /// may hold a state storage lost).
    /// </summary>
    private async Task RecheckAsync(IReadOnlyCollection<string> ids)
    {
        logger.LogInformation("index shard {Shard}: storage answers again; re-checking {Count} video(s) touched during the outage", Shard, ids.Count);
        var recheck = new OutageRecheck(Shard, _index, _writes.Unwritten, _dispatcher.Changed, logger);
        try
        {
            await recheck.CompareAsync(ids, states.TryReadVideoAsync);
        }
        catch (Exception e) when (VideoFailures.IsStorageOutage(e))
        {
            StorageOut(recheck.NotDone(ids)); // the rest waits for storage's next answer
        }
        finally
        {
            _summary = null;
            if (_writes.Unwritten.Count > 0)
            {
                try { await _writes.FlushAsync(); }
                catch (Exception e) { logger.LogWarning("index shard {Shard}: writing the re-check's repairs failed (retried with the next write): {Message}", Shard, e.Message); }
            }
            WorkChanged();
        }
        await Task.WhenAll(recheck.Repaired.Select(async id =>
        {
            try { await GrainFactory.GetGrain<IVideoGrain>(id).Recheck(); }
            catch (Exception e) { logger.LogWarning("index shard {Shard}: video {Id} could not re-read its state: {Message}", Shard, id, e.Message); }
        }));
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
        Generation = _writes.Log.Generation,
        LogBytes = _writes.Log.LogBytes,
        BytesWritten = _writes.Log.BytesWritten,
        Parked = _dispatcher.Parked,
    });
}
