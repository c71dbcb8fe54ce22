using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using LvMae.Contracts;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LvMae.Grains.Index;

/// <summary>The data container of a silo's storage account, seen as the grain-state container (audits read states directly).</summary>
public sealed class GrainStateBlobs(BlobStore store)
{
    public BlobStore Store { get; } = store;

    /// <summary>Every video grain's state blob name starts with this (Orleans' provider: "&lt;state name&gt;-&lt;grain type&gt;/&lt;key&gt;.json").</summary>
    public static readonly string VideoPrefix = BlobLayout.GrainStateBlob("state", "lvmae.video", "")[..^".json".Length];
}

/// <summary>Activates the audit grain once per silo start, so its reminder exists from the corpus's first day.</summary>
public sealed class AuditReminderStarter(IGrainFactory grains, ILogger<AuditReminderStarter> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(AuditReminderStarter), ServiceLifecycleStage.Active, ct =>
        {
            _ = Task.Run(async () =>
            {
                try { await grains.GetGrain<ICorpusAuditGrain>(0).Report(); }
                catch (Exception e) { logger.LogWarning("could not activate the corpus audit (its reminder starts with the next audit call): {Message}", e.Message); }
            });
            return Task.CompletedTask;
        });
}

public sealed class CorpusAuditState
{
    public AuditReport? Last { get; set; }
}

/// <summary>
/// Audits the corpus: every video grain's persisted state (the truth) against the index entry it should have
/// (<see cref="VideoIndexEntries.From"/>), and on request against its data blobs; repairs the index on request. Runs in
/// the background with progress; a reminder runs a repairing audit every <see cref="IndexOptions.AuditInterval"/>.
/// </summary>
[GrainType("lvmae.corpus-audit")]
public sealed class CorpusAuditGrain(
    [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<CorpusAuditState> state,
    GrainStateBlobs states,
    BlobStore data,
    IndexLayout layout,
    IOptions<IndexOptions> options,
    IGrainFactory grains, // the silo's factory: usable off the grain's scheduler, where the audit's parallel reads run
    ILogger<CorpusAuditGrain> logger) : Grain, ICorpusAuditGrain, IRemindable
{
    public const string AuditReminder = "audit";
    private const int MaxProblems = 100;
    private const int Parallelism = 16;

    private Task? _running;
    private Progress? _progress;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var period = options.Value.AuditInterval;
        if (period > TimeSpan.Zero && await this.GetReminder(AuditReminder) is null)
            await this.RegisterOrUpdateReminder(AuditReminder, period, period);
    }

    public Task<AuditReport> Start(AuditRequest request)
    {
        if (_running is not { IsCompleted: false })
        {
            _progress = new Progress(request, DateTimeOffset.UtcNow);
            _running = RunAsync(_progress);
        }
        return Report();
    }

    public Task<AuditReport> Report() => Task.FromResult(_progress?.Snapshot() ?? state.State.Last ?? new AuditReport());

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == AuditReminder) Start(new AuditRequest { Repair = true });
        return Task.CompletedTask;
    }

    private async Task RunAsync(Progress p)
    {
        DelayDeactivation(TimeSpan.FromHours(6));
        try
        {
            await Task.Run(() => AuditAsync(p));
        }
        catch (Exception e)
        {
            p.Error = e.Message;
            logger.LogWarning(e, "corpus audit failed");
        }
        p.FinishedAt = DateTimeOffset.UtcNow;
        var report = p.Snapshot();
        if (report.Inconsistencies > 0)
            logger.LogWarning("corpus audit: {Missing} missing, {Stale} stale, {Phantom} phantom index entries, {Blobs} blob problems ({Repaired} repaired), {LogDiffers} live entries unlike the persisted log, {Ahead} entries ahead of their state",
                report.Missing, report.Stale, report.Phantom, report.BlobProblems, report.Repaired, report.LogDiffers, report.Ahead);
        state.State.Last = report;
        try { await state.WriteStateAsync(); }
        catch (Exception e) { logger.LogWarning("corpus audit: saving the report failed: {Message}", e.Message); }
        DelayDeactivation(TimeSpan.FromSeconds(-1));
    }

    /// <summary>Off the grain scheduler: reads states in parallel, compares per shard in batches, repairs through the shards.</summary>
    private async Task AuditAsync(Progress p)
    {
        var ids = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        var batch = new List<(string Id, VideoState State)>();
        var pending = new List<Task>();
        using var gate = new SemaphoreSlim(Parallelism);
        await foreach (var blob in states.Store.ListAsync(GrainStateBlobs.VideoPrefix))
        {
            if (!blob.Name.EndsWith(".json", StringComparison.Ordinal)) continue;
            var id = blob.Name[GrainStateBlobs.VideoPrefix.Length..^".json".Length];
            await gate.WaitAsync();
            pending.Add(Task.Run(async () =>
            {
                try
                {
                    var bytes = await states.Store.TryDownloadAsync(blob.Name);
                    if (bytes is null || bytes.Length == 0) return; // cleared meanwhile
                    var s = JsonSerializer.Deserialize<VideoState>(bytes, GrainStateJson.Options)!;
                    ids[id] = 0;
                    List<(string, VideoState)>? full = null;
                    lock (batch)
                    {
                        batch.Add((id, s));
                        if (batch.Count >= 500) { full = [.. batch]; batch.Clear(); }
                    }
                    if (full is not null) await CompareAsync(full, p);
                }
                catch (JsonException e) { p.Problem($"{id}: state blob {blob.Name} is not readable: {e.Message}"); }
                finally { gate.Release(); }
            }));
        }
        await Task.WhenAll(pending);
        await CompareAsync(batch, p);

        // Entries the index holds for videos that have no state at all.
        var corpus = grains.GetGrain<ICorpusGrain>(0);
        var phantoms = new List<string>();
        string? cursor = null;
        do
        {
            var page = await corpus.Query(new VideoQuery { Limit = 5000, Cursor = cursor, CountMatches = false });
            Interlocked.Add(ref p.IndexEntries, page.Items.Count);
            phantoms.AddRange(page.Items.Where(e => !ids.ContainsKey(e.Id) && e.UpdatedAt < p.StartedAt).Select(e => e.Id));
            cursor = page.Next;
        } while (cursor is not null);
        // Registered while the states were being listed? Only entries whose state still does not exist are phantoms.
        var confirmed = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(phantoms, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (id, ct) =>
        {
            if (!await states.Store.ExistsAsync(GrainStateBlobs.VideoPrefix + id + ".json", ct)) confirmed.Add(id);
        });
        phantoms = [.. confirmed];
        foreach (var id in phantoms) p.Problem($"{id}: the index lists it but no video state exists");
        p.Phantom = phantoms.Count;
        if (p.Request.Repair && phantoms.Count > 0)
        {
            await Task.WhenAll(phantoms.GroupBy(layout.ShardOf).Select(g => grains.GetGrain<ICorpusIndexGrain>(g.Key).Remove(g.ToList())));
            Interlocked.Add(ref p.Repaired, phantoms.Count);
        }
        if (p.Request.Blobs) await CountOrphansAsync(ids, p);
        if (p.Request.IndexLog)
        {
            await CompareLogsAsync(p);
            await RecheckAheadAsync(p);
        }
    }

    /// <summary>Entries that were newer than their state when it was read: read both again; still newer means storage lost the state's write.</summary>
    private async Task RecheckAheadAsync(Progress p)
    {
        var ids = p.AheadIds();
        if (ids.Count == 0) return;
        await Task.Delay(LogRecheckDelay);
        var live = (await grains.GetGrain<ICorpusGrain>(0).GetMany(ids)).ToDictionary(e => e.Id, StringComparer.Ordinal);
        foreach (var id in ids)
        {
            var bytes = await states.Store.TryDownloadAsync(GrainStateBlobs.VideoPrefix + id + ".json");
            var s = bytes is null || bytes.Length == 0 ? null : JsonSerializer.Deserialize<VideoState>(bytes, GrainStateJson.Options);
            var actual = live.GetValueOrDefault(id);
            if (s is null || IndexChecks.Compare(id, s, actual).Verdict != IndexVerdict.Ahead) continue;
            Interlocked.Increment(ref p.Ahead);
            p.Problem($"{id}: index says {actual!.Stage} (version {actual.Version}), newer than the state in storage: {s.Stage} (version {s.Version}) (storage lost a state write?)");
        }
    }

    /// <summary>How long the live-vs-log comparison waits before reading a shard's differing videos again (a change the shard applied
    /// is written to its log a moment later; one still differing after this is reported).</summary>
    public static readonly TimeSpan LogRecheckDelay = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The live index (each shard's entries as the API serves them) against the persisted log (each shard's snapshot + log read
    /// from storage and replayed as the shard replays it on activation), per video; the persisted state is named in each problem
    /// line. Read live first, then storage; a difference is re-read once after <see cref="LogRecheckDelay"/> and counted only
    /// when it is still there (a write in flight lands meanwhile). Not repaired here: see docs/RELIABILITY.md.
    /// </summary>
    private async Task CompareLogsAsync(Progress p)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, layout.Shards), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (shard, _) =>
        {
            var first = await ShardDifferencesAsync(shard, null);
            Interlocked.Increment(ref p.ShardLogsRead);
            if (first.Count == 0) return;
            await Task.Delay(LogRecheckDelay);
            var second = await ShardDifferencesAsync(shard, first.Keys.ToList());
            foreach (var (id, (live, logged)) in second.OrderBy(d => d.Key, StringComparer.Ordinal))
            {
                Interlocked.Increment(ref p.LogDiffers);
                var bytes = await states.Store.TryDownloadAsync(GrainStateBlobs.VideoPrefix + id + ".json");
                var state = bytes is null || bytes.Length == 0 ? null : JsonSerializer.Deserialize<VideoState>(bytes, GrainStateJson.Options);
                static string Shown(VideoIndexEntry? e) => e is null ? "no entry" : $"{e.Stage} (version {e.Version})";
                p.Problem($"{id}: the live index (what the API serves) has {Shown(live)}, the index log in storage has {Shown(logged)}, " +
                          $"the video state says {(state is null ? "nothing (no state)" : $"{state.Stage} (version {state.Version})")} (shard {shard})");
            }
        });
    }

    /// <summary>One shard's videos (all, or only <paramref name="only"/>) whose live entry differs from its persisted log's.</summary>
    private async Task<Dictionary<string, (VideoIndexEntry? Live, VideoIndexEntry? Logged)>> ShardDifferencesAsync(int shard, IReadOnlyList<string>? only)
    {
        var index = grains.GetGrain<ICorpusIndexGrain>(shard);
        var live = new Dictionary<string, VideoIndexEntry>(StringComparer.Ordinal);
        if (only is not null)
            foreach (var e in await index.GetMany(only)) live[e.Id] = e;
        else
        {
            string? after = null;
            while (true)
            {
                var page = await index.Query(new VideoQuery { Limit = 5000, CountMatches = false }, after);
                foreach (var e in page.Items) live[e.Id] = e;
                if (!page.More || page.Items.Count == 0) break;
                after = page.Items[^1].Id;
            }
        }
        var replayed = new IndexShard();
        foreach (var change in await new ShardLog(data, shard).LoadAsync())
            if (change.Entry is { } e) replayed.Apply(e); else replayed.Remove(change.Removed!);
        var differences = new Dictionary<string, (VideoIndexEntry?, VideoIndexEntry?)>(StringComparer.Ordinal);
        var ids = only ?? live.Keys.Concat(replayed.Entries.Select(e => e.Id)).Distinct(StringComparer.Ordinal).ToList();
        foreach (var id in ids)
        {
            var (a, b) = (live.GetValueOrDefault(id), replayed.Get(id));
            if (a is null && b is null) continue;
            if (a is null || b is null || !a.SameAs(b) || a.Version != b.Version) differences[id] = (a, b);
        }
        return differences;
    }

    private async Task CompareAsync(List<(string Id, VideoState State)> batch, Progress p)
    {
        if (batch.Count == 0) return;
        Interlocked.Add(ref p.States, batch.Count);
        var indexed = (await grains.GetGrain<ICorpusGrain>(0).GetMany(batch.Select(b => b.Id).ToList())).ToDictionary(e => e.Id, StringComparer.Ordinal);
        var repairs = new List<VideoIndexEntry>();
        foreach (var (id, s) in batch)
        {
            if (s.Stage is not (VideoStage.Embedded or VideoStage.Failed)) Interlocked.Increment(ref p.Unfinished);
            if (s.Stage == VideoStage.Failed) Interlocked.Increment(ref p.Failed);
            var actual = indexed.GetValueOrDefault(id);
            var (verdict, expected) = IndexChecks.Compare(id, s, actual);
            if (verdict == IndexVerdict.Missing)
            {
                Interlocked.Increment(ref p.Missing);
                p.Problem($"{id}: state says {s.Stage} (version {s.Version}) but the index has no entry");
                repairs.Add(expected!);
            }
            else if (verdict == IndexVerdict.Ahead && p.Request.IndexLog) p.NoteAhead(id); // moved on since its state was read, or storage lost the state's write: read again at the end
            else if (verdict == IndexVerdict.Stale)
            {
                Interlocked.Increment(ref p.Stale);
                p.Problem($"{id}: index says {actual!.Stage} (version {actual.Version}), state says {s.Stage} (version {s.Version})");
                repairs.Add(expected!);
            }
            if (p.Request.Blobs && s.Stage == VideoStage.Embedded) await CheckBlobsAsync(id, s, p);
        }
        if (p.Request.Repair && repairs.Count > 0)
        {
            await Task.WhenAll(repairs.GroupBy(e => layout.ShardOf(e.Id)).Select(g => grains.GetGrain<ICorpusIndexGrain>(g.Key).UpsertMany(g.ToList())));
            Interlocked.Add(ref p.Repaired, repairs.Count);
        }
    }

    /// <summary>An embedded video's embeddings blob exists and agrees with its state (rows, dimension, content hash); a video file also has segments.json.</summary>
    private async Task CheckBlobsAsync(string id, VideoState s, Progress p)
    {
        var problems = new List<string>();
        var blob = s.EmbeddingsBlob is null ? null : await data.TryGetPropertiesAsync(s.EmbeddingsBlob);
        if (blob is null) problems.Add($"embeddings blob {s.EmbeddingsBlob ?? "(none recorded)"} is missing");
        else
        {
            string? Meta(string key) => blob.Metadata.GetValueOrDefault(key);
            if (s.EmbeddingsSha256 is { } sha && Meta("sha256") != sha) problems.Add($"{blob.Name} holds other content (sha256 {Meta("sha256") ?? "none"}) than the state recorded ({sha})");
            if (Meta("rows") is { } rows && rows != s.SegmentCount.ToString(CultureInfo.InvariantCulture)) problems.Add($"{blob.Name} has {rows} rows, the state {s.SegmentCount} segments");
            if (Meta("dimension") is { } dim && dim != s.Dimension.ToString(CultureInfo.InvariantCulture)) problems.Add($"{blob.Name} has dimension {dim}, the state {s.Dimension}");
            if (s.Kind == VideoSourceKind.VideoFile && Meta("encoderspec") is { } spec && spec != s.Encoder) problems.Add($"{blob.Name} was made by encoder {spec}, the state says {s.Encoder}");
        }
        if (s.Kind == VideoSourceKind.VideoFile && !await data.ExistsAsync(BlobLayout.Segments(id))) problems.Add("segments.json is missing");
        if (problems.Count == 0) return;
        Interlocked.Increment(ref p.BlobProblems);
        p.Problem($"{id}: {string.Join("; ", problems)}");
    }

    /// <summary>Video folders in the data container that no video state owns (an upload whose registration never happened, say).</summary>
    private async Task CountOrphansAsync(ConcurrentDictionary<string, byte> ids, Progress p)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var blob in data.ListAsync("videos/"))
        {
            var slash = blob.Name.IndexOf('/', "videos/".Length);
            if (slash < 0) continue;
            var id = blob.Name["videos/".Length..slash];
            if (ids.ContainsKey(id) || !seen.Add(id)) continue;
            Interlocked.Increment(ref p.Orphans);
            p.Problem($"{id}: blobs under videos/{id}/ but no video state (e.g. {blob.Name})");
        }
    }

    /// <summary>The running audit's counters (updated from many threads; snapshots are read on the grain).</summary>
    private sealed class Progress(AuditRequest request, DateTimeOffset started)
    {
        public readonly AuditRequest Request = request;
        public readonly DateTimeOffset StartedAt = started;
        public int States, IndexEntries, Missing, Stale, Phantom, Repaired, BlobProblems, Orphans, Unfinished, Failed, LogDiffers, ShardLogsRead, Ahead;
        private readonly List<string> _ahead = [];

        public void NoteAhead(string id) { lock (_ahead) _ahead.Add(id); }

        public List<string> AheadIds() { lock (_ahead) return [.. _ahead]; }
        public DateTimeOffset? FinishedAt;
        public string? Error;
        private readonly List<string> _problems = [];

        public void Problem(string line)
        {
            lock (_problems) if (_problems.Count < MaxProblems) _problems.Add(line);
        }

        public AuditReport Snapshot()
        {
            lock (_problems)
                return new AuditReport
                {
                    Request = Request, StartedAt = StartedAt, FinishedAt = FinishedAt, States = States, IndexEntries = IndexEntries,
                    Missing = Missing, Stale = Stale, Phantom = Phantom, Repaired = Repaired, BlobProblems = BlobProblems, Orphans = Orphans,
                    Problems = _problems.ToList(), Error = Error, Unfinished = Unfinished, Failed = Failed, LogDiffers = LogDiffers, ShardLogsRead = ShardLogsRead, Ahead = Ahead,
                };
        }
    }
}
