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
/// and commits: the registration rules are <see cref="RegistrationDecision"/>, failures are classified by <see cref="VideoFailures"/>,
/// saves, reloads and publishes (and what storage holds) are kept by <see cref="VideoStateKeeper"/>.
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
    private readonly VideoSaveMetrics _metrics = new();
    /// <summary>Saves, reloads, publishes, and what storage holds; made at activation (the grain's id and factory are known then).</summary>
    private VideoStateKeeper _keeper = null!;

    private string Id => this.GetPrimaryKeyString();
    private VideoState Video => state.State;   // the persisted state (written with state.WriteStateAsync)
    private bool Finished => Video.Stage is VideoStage.Embedded or VideoStage.Failed;
    private bool Working => _work.Running && !Finished;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _keeper = new VideoStateKeeper(state, Id, new VideoIndexPublisher(GrainFactory, layout, Id, logger), _metrics, logger, DeactivateOnIdle);
        return Task.CompletedTask;
    }

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
                    await _keeper.CommitAsync();
                }
                if (decision.Outcome == RegistrationOutcome.Busy) throw new InvalidOperationException(decision.Problem);
                await _keeper.EnsureIndexedAsync();
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
        await _keeper.CommitAsync(); // the index shard now queues it and asks it to Process when there is room
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
        await _keeper.CommitAsync();
        return true;
    }

    public Task<VideoStatus> GetStatus() => Task.FromResult(Status());

    public async Task<VideoStatus> Retry()
    {
        if (state.RecordExists && Video.Stage == VideoStage.Failed && !Working)
        {
            Video.Restart(Video.Probe is null ? VideoStage.Registered : VideoStage.Probed);
            await _keeper.CommitAsync();
        }
        return Status();
    }

    public async Task<VideoStatus> Process()
    {
        if (!state.RecordExists && !_keeper.Unsaved) return Status();
        if (_work.Running) return Status(); // the work saves and publishes what it has (an unanswered final write included)
        // The shard asks only for videos it holds unfinished: a finished activation may hold a state storage lost (a crashed
        // storage comes back without writes it acknowledged), so it reads storage before publishing what it has.
        if (Finished && !_keeper.Unsaved) await _keeper.ReloadAsync();
        if (Finished)
        {
            if (_keeper.Unsaved) await _keeper.SaveAsync();
            await _keeper.EnsureIndexedAsync();
        }
        else _work.Start(WorkAsync);
        return Status();
    }

    public async Task<VideoStatus> Recheck()
    {
        _keeper.ForgetIndexed(); // whatever the shard holds now, publish again
        if (_keeper.Unsaved) return Status(); // its own pending write resolves by reading back (and reloads if storage holds another state)
        if (_work.Running)
        {
            _keeper.AskRecheck(); // the work re-reads storage at its next attempt, or once it ends
            return Status();
        }
        await _keeper.ReloadAsync();
        return await Process();
    }

    /// <summary>What storage holds (<see cref="VideoStateKeeper.Stored"/>), with this activation's live work and whether a change is being saved.</summary>
    private VideoStatus Status() => VideoStatuses.From(Id, _keeper.Stored, _keeper.Unsaved, Working, _queued, Volatile.Read(ref _progress));

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
            // Another writer's state is on storage (read back, not ours); the keeper's SaveAsync reloaded it: the index
            // shard's next Process decides again from there.
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
            try { await _keeper.CommitAsync(); }
            catch (Exception inner) when (inner is not InconsistentStateException)
            {
                logger.LogWarning("video {Id}: recording the failure failed ({Message}); the index shard's next ask records it", Id, inner.Message);
            }
            catch (Exception inner) { logger.LogError(inner, "video {Id}: could not record its failure", Id); }
        }
        finally
        {
            _queued = false;
            if (_keeper.RecheckAsked || _keeper.ResumeAsked) _ = AfterWorkAsync();
        }
    }

    private async Task AfterWorkAsync()
    {
        await Task.Yield(); // after this work's task has completed, so Process may start the next
        try
        {
            if (_keeper.RecheckAsked && !_keeper.Unsaved) await Recheck();
            else
            {
                _keeper.Resumed();
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
        if (_keeper.Unsaved) await _keeper.SaveAsync();
        else if (_keeper.RecheckAsked) await _keeper.ReloadAsync();
        if (Finished)
        {
            await _keeper.TryPublishAsync();
            return;
        }
        if (Video.Kind == VideoSourceKind.Embeddings)
        {
            MarkEmbedded(await processor.ImportAsync(Video, carried: null, ct)); // a queued import: validated as a stream, no job slot
            await _keeper.CommitAsync();
            return;
        }
        // Persisted before the attempt: a video that crashes its silo every time fails after MaxAttempts.
        if (!Retries.TakeOutageInterruption()) Video.Attempts++; // the attempt storage interrupted goes on: counted once
        await _keeper.SaveAsync();
        var hooks = new VideoWorkHooks(TransitionAsync, v => Volatile.Write(ref _progress, v), waiting => _queued = waiting);
        // The final state after slot and scratch are given back: a video the index calls Embedded holds no silo resources.
        if (await processor.ProcessAsync(Id, Video, hooks, ct) is { } done)
        {
            MarkEmbedded(done);
            Video.Warning = done.Warning; // e.g. "truncated: 37.3 of 60.0 s decodable": embedded, but the user should know
            await _keeper.CommitAsync();
        }
    }

    private void MarkEmbedded(Embedding embedding)
    {
        Video.MarkEmbedded(embedding);
        _metrics.Embedded(embedding.Rows);
        Volatile.Write(ref _progress, 1);
    }

    /// <summary>A step of the work (Probed, Segmented) is published best effort; the final stage must reach the index.</summary>
    private async Task TransitionAsync(VideoStage stage)
    {
        Video.Stage = stage;
        await _keeper.CommitAsync(mustIndex: Finished);
    }
}
