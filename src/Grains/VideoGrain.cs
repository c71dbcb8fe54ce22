using LvMae.Contracts;
using LvMae.Media;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace LvMae.Grains;

/// <summary>
/// One video (key = video id): a persisted state machine Registered -> Probed -> Segmented -> Embedded (or Failed).
/// <see cref="Register"/> records the video (state, then index entry) and returns; the video's index shard starts the work
/// when there is room (<see cref="Process"/>), and the work runs in this grain's background: the media stages
/// (<see cref="VideoProcessor"/>) write data blobs first, the grain then the state that points to them (ETag-guarded), and
/// it publishes every transition to the index. A video's final state always reaches the index: the shard keeps asking
/// (<see cref="Process"/>) until it sees it. Storage outages are waited out, never turned into failures. The grain decides
/// and commits: the registration rules are <see cref="RegistrationDecision"/>, failures are classified by <see cref="VideoFailures"/>.
/// </summary>
[GrainType("lvmae.video")]
[Orleans.Placement.RandomPlacement] // spread the work over the silos (each bounds its own jobs)
[CollectionAgeLimit(Minutes = 2)] // a corpus of finished videos should not stay in memory
public sealed class VideoGrain(
    [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<VideoState> state,
    VideoProcessor processor,
    IndexLayout layout,
    IOptions<ProcessingOptions> options,
    ILogger<VideoGrain> logger) : Grain, IVideoGrain
{
    private readonly ProcessingOptions _options = options.Value;
    private readonly BackgroundWork _work = new();
    private double _progress;
    private volatile bool _queued;
    private VideoIndexPublisher? _publisher;
    /// <summary>The in-memory state has a change storage may not hold (a write in flight, failed, or unanswered).</summary>
    private bool _unsaved;
    /// <summary>A re-check asked for while the work ran: storage may have lost what this activation saved (a crashed storage).</summary>
    private bool _recheck;
    /// <summary>A write found that storage had lost earlier writes of this activation: once the work ends, it starts again.</summary>
    private bool _resume;
    private readonly VideoSaveMetrics _metrics = new();
    /// <summary>
    /// A copy of the state as storage holds it (null: no record): the only state <see cref="Status"/> reports, so "Embedded"
    /// means Embedded on storage. Replaced whole after each read and each write that storage confirmed.
    /// </summary>
    private VideoState? _stored;

    private string Id => this.GetPrimaryKeyString();
    private VideoState Video => state.State;   // the persisted state (written with state.WriteStateAsync)
    private bool Finished => Video.Stage is VideoStage.Embedded or VideoStage.Failed;
    private bool Working => _work.Running && !Finished;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Stored();
        return Task.CompletedTask;
    }

    /// <summary>Records the in-memory state as what storage holds (just read or just written).</summary>
    private void Stored() => _stored = state.RecordExists ? Video.Clone() : null;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _work.StopAsync(TimeSpan.FromSeconds(10), cancellationToken);

    // ---- the API ----------------------------------------------------------------------------------------------------------

    public async Task<VideoStatus> Register(VideoRegistration registration)
    {
        registration = RegistrationDecision.Validate(Id, registration, _options);
        var decision = RegistrationDecision.Decide(Id, state.RecordExists ? Video : null, registration, Working);
        switch (decision.Outcome)
        {
            case RegistrationOutcome.Conflict:
                throw new ArgumentException(decision.Problem);
            case RegistrationOutcome.Unchanged or RegistrationOutcome.Busy:
                if (decision.LabelsChanged)
                {
                    decision.ApplyTo(Video, registration);
                    await CommitAsync();
                }
                if (decision.Outcome == RegistrationOutcome.Busy) throw new InvalidOperationException(decision.Problem);
                await EnsureIndexedAsync();
                return Status();
            case RegistrationOutcome.New:
                state.State = decision.NewState(registration, DateTimeOffset.UtcNow);
                break;
            case RegistrationOutcome.Reprocess:
                decision.ApplyTo(Video, registration);
                break;
        }
        if (decision.ImportNow && await ImportWithinRegistrationAsync(registration.Content))
        {
            // Nothing is left for this activation to do, so it goes now instead of after the collection age. Kept for minutes,
            // a 100k import's activations outlive gen 0/1 and die in gen 2, and the silo spends its CPU in background collections.
            DeactivateOnIdle();
            return Status();
        }
        await CommitAsync(); // the index shard now queues it and asks it to Process when there is room
        return Status();
    }

    /// <summary>
    /// An import validated within its registration: Embedded or Failed with one state write and no trip through the queue.
    /// Storage trouble throws before anything is recorded, except for an uploaded import: that one takes the queued path (false).
    /// </summary>
    private async Task<bool> ImportWithinRegistrationAsync(byte[]? carried)
    {
        try { MarkEmbedded(await processor.ImportAsync(Video, carried, CancellationToken.None)); }
        catch (MediaException e) { VideoFailures.MarkFailed(Video, e); }
        catch (Exception e) when (carried is null && VideoFailures.IsStorageOutage(e)) { return false; }
        await CommitAsync();
        return true;
    }

    public Task<VideoStatus> GetStatus() => Task.FromResult(Status());

    public async Task<VideoStatus> Retry()
    {
        if (state.RecordExists && Video.Stage == VideoStage.Failed && !Working)
        {
            Video.Restart(Video.Probe is null ? VideoStage.Registered : VideoStage.Probed);
            await CommitAsync();
        }
        return Status();
    }

    public async Task<VideoStatus> Process()
    {
        if (!state.RecordExists && !_unsaved) return Status();
        if (_work.Running) return Status(); // the work saves and publishes what it has (an unanswered final write included)
        // The shard asks only for videos it holds unfinished: a finished activation may hold a state storage lost (a crashed
        // storage comes back without writes it acknowledged), so it reads storage before publishing what it has.
        if (Finished && !_unsaved) await ReloadAsync();
        if (Finished)
        {
            if (_unsaved) await SaveAsync();
            await EnsureIndexedAsync();
        }
        else _work.Start(WorkAsync);
        return Status();
    }

    public async Task<VideoStatus> Recheck()
    {
        Index.Forget(); // whatever the shard holds now, publish again
        if (_unsaved) return Status(); // its own pending write resolves by reading back (and reloads if storage holds another state)
        if (_work.Running)
        {
            _recheck = true; // the work re-reads storage at its next attempt, or once it ends
            return Status();
        }
        await ReloadAsync();
        return await Process();
    }

    /// <summary>
    /// Reads the state storage holds. A storage that crashed can come back without writes it had acknowledged: then this
    /// activation goes on from what storage holds, numbered after the versions it lost (so their index entries are superseded,
    /// never taken for newer), and a registration storage lost entirely is written again. True when storage had lost writes.
    /// </summary>
    private async Task<bool> ReloadAsync()
    {
        _recheck = false;
        var known = state.RecordExists ? Video.Clone() : null;
        await state.ReadStateAsync();
        Stored();
        if (known is null || (state.RecordExists && Video.Version >= known.Version)) return false;
        logger.LogWarning("video {Id}: storage holds {Stored} (version {StoredVersion}) but this activation had saved {Known} (version {KnownVersion}): storage lost acknowledged writes; continuing from what it holds",
            Id, _stored?.Stage.ToString() ?? "no state", _stored?.Version, known.Stage, known.Version);
        if (!state.RecordExists)
        {
            state.State = known;
            Video.Restart(VideoStage.Registered);
        }
        Video.Version = known.Version;
        _unsaved = true; // saved by the next attempt (Process starts one)
        return true;
    }

    /// <summary>What storage holds (<see cref="_stored"/>), with this activation's live work and whether a change is being saved.</summary>
    private VideoStatus Status() => VideoStatuses.From(Id, _stored, _unsaved, Working, _queued, Volatile.Read(ref _progress));

    // ---- the background work ----------------------------------------------------------------------------------------------

    /// <summary>The work, under the video's retry policies (<see cref="VideoRetries"/>): what is left after them is a failure.</summary>
    private async Task WorkAsync(CancellationToken ct)
    {
        await Task.Yield(); // let the call that started us return first
        try
        {
            await VideoRetries.Run(Retries.Work, AttemptAsync, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (InconsistentStateException e)
        {
            // Another writer's state is on storage (read back, not ours); SaveAsync reloaded it: the index shard's next
            // Process decides again from there.
            logger.LogWarning("video {Id}: state changed elsewhere ({Message}); continuing from the stored state", Id, e.Message);
        }
        catch (Exception e)
        {
            var (kind, permanent) = VideoFailures.Classify(e);
            if (permanent) logger.LogInformation("video {Id}: failed ({Kind}, permanent): {Message}", Id, kind, VideoFailures.Message(e));
            else logger.LogWarning(e, "video {Id}: failed ({Kind}) after {Attempts} attempt(s)", Id, kind, Video.Attempts);
            VideoFailures.MarkFailed(Video, e);
            // The verdict must reach storage and the index: if storage is down now, the index shard keeps asking (Process)
            // and each ask saves and publishes again, so the video never stays Failed in memory only.
            try { await CommitAsync(); }
            catch (Exception inner) when (inner is not InconsistentStateException)
            {
                logger.LogWarning("video {Id}: recording the failure failed ({Message}); the index shard's next ask records it", Id, inner.Message);
            }
            catch (Exception inner) { logger.LogError(inner, "video {Id}: could not record its failure", Id); }
        }
        finally
        {
            _queued = false;
            if (_recheck || _resume) _ = AfterWorkAsync();
        }
    }

    private async Task AfterWorkAsync()
    {
        await Task.Yield(); // after this work's task has completed, so Process may start the next
        try
        {
            if (_recheck && !_unsaved) await Recheck();
            else
            {
                _resume = false;
                await Process(); // saves what is unsaved first
            }
        }
        catch (Exception e) { logger.LogWarning("video {Id}: re-reading its state after the work failed ({Message}); the shard asks again", Id, e.Message); }
    }

    private VideoRetries? _retries;
    private VideoRetries Retries => _retries ??= VideoRetries.For(_options, () => Video, logger, Id);

    /// <summary>One attempt at whatever stage the video is in.</summary>
    private async Task AttemptAsync(CancellationToken ct)
    {
        // A change whose write failed or went unanswered goes to storage first (a lost answer is resolved by reading back).
        if (_unsaved) await SaveAsync();
        else if (_recheck) await ReloadAsync();
        if (Finished)
        {
            await TryPublishAsync();
            return;
        }
        if (Video.Kind == VideoSourceKind.Embeddings)
        {
            MarkEmbedded(await processor.ImportAsync(Video, carried: null, ct)); // a queued import: validated as a stream, no job slot
            await CommitAsync();
            return;
        }
        // Persisted before the attempt: a video that crashes its silo every time fails after MaxAttempts.
        if (!Retries.TakeOutageInterruption()) Video.Attempts++; // the attempt storage interrupted goes on: counted once
        await SaveAsync();
        var hooks = new VideoWorkHooks(TransitionAsync, v => Volatile.Write(ref _progress, v), waiting => _queued = waiting);
        // The final state after slot and scratch are given back: a video the index calls Embedded holds no silo resources.
        if (await processor.ProcessAsync(Id, Video, hooks, ct) is { } done)
        {
            MarkEmbedded(done);
            Video.Warning = done.Warning; // e.g. "truncated: 37.3 of 60.0 s decodable": embedded, but the user should know
            await CommitAsync();
        }
    }

    private void MarkEmbedded(Embedding embedding)
    {
        Video.MarkEmbedded(embedding);
        _metrics.Embedded(embedding.Rows);
        Volatile.Write(ref _progress, 1);
    }

    // ---- persistence and the index ------------------------------------------------------------------------------------------

    /// <summary>A step of the work (Probed, Segmented) is published best effort; the final stage must reach the index.</summary>
    private async Task TransitionAsync(VideoStage stage)
    {
        Video.Stage = stage;
        await CommitAsync(mustIndex: Finished);
    }

    /// <summary>
    /// A new version of the state: saved, then published to the index. Registration, retry and the final stage wait for
    /// the index (throwing if it cannot be reached): the index is the work queue and what status reports, so a video the
    /// index does not know would never be processed or seen.
    /// </summary>
    private async Task CommitAsync(bool mustIndex = true)
    {
        if (Video.Version == 0) _metrics.Registered();
        Video.UpdatedAt = DateTimeOffset.UtcNow;
        Video.Version++;
        await SaveAsync();
        if (mustIndex) await EnsureIndexedAsync();
        else await TryPublishAsync();
    }

    private async Task SaveAsync()
    {
        _unsaved = true;
        try
        {
            await state.WriteStateAsync(); // a lost answer is resolved inside (ReadBackGrainStorage): this throws only for real conflicts
            _unsaved = false;
            Stored();
            _metrics.Saved(Video.Encoder);
        }
        catch (InconsistentStateException)
        {
            // Another activation (or a clear) wrote this video, and what storage holds is not ours: our change is void.
            // Reload, so this activation neither serves nor builds on a state storage does not hold; the caller decides again.
            try
            {
                _unsaved = false;
                _resume = await ReloadAsync(); // storage lost writes of ours: the work starts again from what it holds
            }
            catch (Exception e)
            {
                logger.LogWarning("video {Id}: reloading after a conflict failed ({Message}); deactivating", Id, e.Message);
                DeactivateOnIdle(); // the next activation reads storage afresh; until then Status reports the last stored state
            }
            throw;
        }
    }

    private VideoIndexPublisher Index => _publisher ??= new VideoIndexPublisher(GrainFactory, layout, Id, logger);

    /// <summary>Only what storage holds is published: a change being saved waits for its write.</summary>
    private Task EnsureIndexedAsync() => _unsaved ? Task.CompletedTask : Index.EnsureAsync(Video);

    private Task TryPublishAsync() => _unsaved ? Task.CompletedTask : Index.TryAsync(Video);
}
