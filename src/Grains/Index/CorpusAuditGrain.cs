using System.Collections.Concurrent;
using System.Text.Json;
using LvMae.Contracts;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LvMae.Grains.Index;

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
/// the background with progress; a reminder runs a repairing audit every <see cref="IndexOptions.AuditInterval"/>. The
/// index-log check is <see cref="IndexLogCheck"/>'s, the blob check <see cref="AuditBlobChecks"/>'.
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
    private const int Parallelism = 16;

    private Task? _running;
    private AuditProgress? _progress;

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
            _progress = new AuditProgress(request, DateTimeOffset.UtcNow);
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

    private async Task RunAsync(AuditProgress p)
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
    private async Task AuditAsync(AuditProgress p)
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
            var check = new IndexLogCheck(grains, data, states, layout);
            await check.CompareLogsAsync(p);
            await check.RecheckAheadAsync(p);
        }
    }

    private async Task CompareAsync(List<(string Id, VideoState State)> batch, AuditProgress p)
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
    private async Task CheckBlobsAsync(string id, VideoState s, AuditProgress p)
    {
        var blob = s.EmbeddingsBlob is null ? null : await data.TryGetPropertiesAsync(s.EmbeddingsBlob);
        var segmentsMissing = s.Kind == VideoSourceKind.VideoFile && !await data.ExistsAsync(BlobLayout.Segments(id));
        var problems = AuditBlobChecks.Problems(s, blob, segmentsMissing);
        if (problems.Count == 0) return;
        Interlocked.Increment(ref p.BlobProblems);
        p.Problem($"{id}: {string.Join("; ", problems)}");
    }

    /// <summary>Video folders in the data container that no video state owns (an upload whose registration never happened, say).</summary>
    private async Task CountOrphansAsync(ConcurrentDictionary<string, byte> ids, AuditProgress p)
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
}
