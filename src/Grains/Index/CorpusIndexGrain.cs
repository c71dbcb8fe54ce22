using LvMae.Contracts;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace LvMae.Grains.Index;

/// <summary>
/// One shard of the corpus index: <see cref="IndexShard"/> (what queries read, in memory), <see cref="ShardLog"/> (what makes
/// it durable: snapshot + append-only log in blob storage) and <see cref="WorkDispatcher"/> (which of its unfinished videos
/// work now). Reentrant so concurrent upserts share one append (group commit): an upsert returns only after an append that
/// includes it. While any of its videos is unfinished the shard keeps an Orleans reminder, so a shard lost with its silo
/// comes back (on a live silo) and drives its videos on.
/// </summary>
[Reentrant]
[GrainType("lvmae.corpus-index")]
public sealed class CorpusIndexGrain(
    BlobStore blobs,
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

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Shard < 0 || Shard >= layout.Shards) throw new ArgumentOutOfRangeException(nameof(Shard), Shard, $"index shard {Shard} is outside this cluster's {layout.Shards} shards");
        _log = new ShardLog(blobs, Shard, indexOptions.Value.CompactBytes);
        foreach (var change in await _log.LoadAsync(cancellationToken))
            if (change.Entry is { } e) _index.Apply(e); else _index.Remove(change.Removed!);
        if (_log.UnreadableLines > 0) logger.LogWarning("index shard {Shard}: {Count} unreadable log line(s) skipped", Shard, _log.UnreadableLines);
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
        }
        return AfterChangeAsync();
    }

    public Task Remove(IReadOnlyList<string> videoIds)
    {
        foreach (var id in videoIds)
            if (_index.Remove(id))
            {
                _unwritten.Add(new ShardLog.Change(null, id));
                _dispatcher.Changed(id, finished: true);
            }
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
                await _log.AppendAsync(changes);
                if (_log.ShouldCompact) await _log.CompactAsync(_index.Entries);
                batch.SetResult();
            }
            catch (Exception e)
            {
                _unwritten.InsertRange(0, changes); // written with the next flush
                logger.LogWarning("index shard {Shard}: write failed: {Message}", Shard, e.Message);
                batch.SetException(e);
                if (e is ShardLogConflictException) DeactivateOnIdle(); // another writer: reload from storage on the next activation
            }
        }
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
