using System.Threading.Channels;
using LvMae.Contracts;
using LvMae.Pipeline;
using LvMae.Runs;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace LvMae.Grains.Training;

/// <summary>
/// One training run (key = run name): a small state machine over <see cref="RunRecorder"/>, which turns each event of the
/// <see cref="TrainingWorker"/> (training on a dedicated thread; a bounded channel brings its events to this grain's pump)
/// and each outcome, failure, resume, probe and export into the new state and what to do; <see cref="RunBook"/> does it
/// (state writes, metrics.jsonl, registry, plot, resume reminder). What the activation has going is one <see cref="RunActivity"/>.
/// Placed on GPU silos when there are any. While the run trains it keeps the reminder <see cref="ResumeReminder"/>: after a
/// crash the state still says Training, and the next tick activates the grain on a live silo, which resumes from the newest
/// checkpoint that verifies (its metadata records the feed position). Training/README.md tells the whole story.
/// </summary>
[GrainType("lvmae.training-run")]
[PreferGpuSilo]
public sealed class TrainingRunGrain : Grain, ITrainingRunGrain, IRemindable
{
    /// <summary>The reminder a training run keeps while its state says Training.</summary>
    public const string ResumeReminder = "resume";

    private readonly BlobStore _blobs;
    private readonly TrainingOptions _options;
    private readonly ProbeBaselineCache _baselines;
    private readonly ILocalSiloDetails _silo;
    private readonly ILogger<TrainingRunGrain> _logger;
    private readonly CheckpointStore _checkpoints;
    private readonly ProbeQueue _probes;
    private readonly RunActivity _activity = new();
    private readonly RunBook _book;

    public TrainingRunGrain(
        [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<TrainingRunState> state,
        BlobStore blobs, IOptions<TrainingOptions> options, ProbeBaselineCache baselines, ILocalSiloDetails silo, ILogger<TrainingRunGrain> logger)
    {
        (_blobs, _options, _baselines, _silo, _logger) = (blobs, options.Value, baselines, silo, logger);
        _book = new RunBook(state, _activity, blobs, GrainFactory, this, _options, logger, Name);
        _checkpoints = new CheckpointStore(blobs, Name);
        _probes = new ProbeQueue(ProbeAsync);
    }

    private string Name => this.GetPrimaryKeyString();
    private TrainingRunState Run => _book.Run;
    private bool Trains => _book.Exists && Run.State == TrainingState.Training;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Trains) _activity.Start = StartTrainingAsync();
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => await _activity.CancelAsync();

    // ---- the API ---------------------------------------------------------------------------------------------------------

    public async Task<TrainingProgress> Start(TrainingRunConfig config)
    {
        BlobLayout.ValidateId(Name, "run name");
        RunSettings.Validate(config);
        if (_book.Exists && Run.State != TrainingState.None)
        {
            var differences = RunSettings.Differences(Run.Config!, config);
            if (differences.Count > 0)
                throw new ArgumentException($"run '{Name}' exists with another config ({string.Join("; ", differences)}): resume it as it is, delete it, or pick another name");
            return await Resume();
        }

        var data = await RunSettings.CensusAsync(config, new IndexEmbeddedVideoSource(GrainFactory, config.LabelColumns));
        _logger.LogInformation("run {Run}: {Data}", Name, SplitCount.Describe(data));
        var created = RunRecorder.Created(config, data, _activity.Seen, DateTimeOffset.UtcNow);
        _activity.Seen = created.Seen;
        await _book.CreateAsync(created.Run);
        _activity.Start = StartTrainingAsync();
        return Progress();
    }

    public Task<TrainingProgress> GetProgress() => Task.FromResult(Progress());

    public async Task<TrainingProgress> Resume()
    {
        // A stop or failure is recorded before its trainer and pump have wound down: a resume right after it waits for them
        // (it would otherwise see the run still running and do nothing).
        if (Run.State is TrainingState.Stopped or TrainingState.Failed) await _activity.WindDownAsync(TimeSpan.FromMinutes(1));
        if (_book.Exists && !_activity.Running && RunRecorder.Resumed(Run, _activity.Seen) is { } resumed) await ApplyAsync(resumed);
        ContinueTraining();
        return Progress();
    }

    /// <summary>A run whose stored state says Training trains in this activation; any other run is left as it is.</summary>
    private void ContinueTraining()
    {
        if (Trains && !_activity.Running) _activity.Start = StartTrainingAsync();
    }

    public Task<TrainingProgress> Stop()
    {
        if (_activity.Worker is { } worker && _activity.Running) worker.StopRequested = true;
        return Task.FromResult(Progress());
    }

    public Task<TrainingProgress> Probe(string? column, string? kind)
    {
        if (kind is not null) LvMae.Model.Probing.ProbeSuite.Options(kind); // throws ArgumentException naming the kind
        if (Run.LatestCheckpoint is null) throw new InvalidOperationException($"run '{Name}' has no checkpoint yet");
        _probes.Request(new ProbeRequest(Run.LatestCheckpointStep, column, kind));
        return Task.FromResult(Progress());
    }

    public Task<TrainingProgress> Export()
    {
        if (Run.LatestCheckpoint is null) throw new InvalidOperationException($"run '{Name}' has no checkpoint yet");
        if (!_activity.IsExporting) _activity.Exporting = ExportAsync();
        return Task.FromResult(Progress());
    }

    public async Task Delete()
    {
        BlobLayout.ValidateId(Name, "run name");
        // A start still loading its checkpoint would write a Training state after the delete and bring the run back: let it
        // finish first (it catches its own failures), then cancel what it launched.
        await _activity.Start.WaitAsync(TimeSpan.FromMinutes(2));
        await _activity.CancelAsync();
        await Task.WhenAll(_probes.Idle, _activity.Exporting ?? Task.CompletedTask, _activity.Plotting).WaitAsync(TimeSpan.FromMinutes(2));
        await _book.DeleteAsync();
        DeactivateOnIdle();
    }

    /// <summary>A tick activates the grain (on a live silo after its silo died): a run still Training continues from its newest
    /// good checkpoint (<see cref="OnActivateAsync"/> started it already when this tick activated it); any other run drops the reminder.</summary>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ResumeReminder) return;
        if (Trains) ContinueTraining();
        else await _book.Reminder.DropAsync();
    }

    private TrainingProgress Progress() => RunRecorder.Progress(Name, Run, _book.Exists, _activity.Seen, _silo.SiloAddress.ToString(),
        (_probes.Busy, _activity.ProbeActivity), _activity.IsExporting);

    // ---- the state machine: changes from the recorder, carried out here --------------------------------------------------

    private Task ApplyAsync(RunChange change) => _book.ApplyAsync(change, _probes.Request);

    /// <summary>Background work receives no calls: the activation is held while it runs, and let go to idle collection when
    /// its work ends with nothing else going (the one place that delays deactivation).</summary>
    private void Hold(bool on) => DelayDeactivation(on ? TimeSpan.FromHours(1) : TimeSpan.FromSeconds(-1));

    private async Task StartTrainingAsync()
    {
        if (_activity.Running || Run.Config is not { } config) return;
        _activity.Starting = true;
        try
        {
            Hold(true);
            await _book.Reminder.KeepAsync();
            var (source, loader) = _activity.Data(GrainFactory, config, _blobs, _options.CacheBytes);
            var rejected = new List<RejectedCheckpoint>();
            var resume = await _checkpoints.LatestGoodAsync(rejected);
            await ApplyAsync(RunRecorder.Starting(Name, Run, _activity.Seen, resume, rejected));
            if (resume is not null)
                _logger.LogInformation("run {Run}: resuming from {Checkpoint} (step {Step}, epoch {Epoch})", Name, resume.Blob, resume.Step, resume.Position.Epoch);
            var (training, events) = _activity.Launch(Name, writer => new TrainingWorker(config, Run.TotalSteps, resume, _checkpoints, source, loader, _options, writer));
            _activity.Pump = PumpAsync(events, training, _activity.Worker!);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "run {Run}: could not start training", Name);
            await FailAsync($"could not start: {e.Message}");
        }
        finally
        {
            _activity.Starting = false;
        }
    }

    /// <summary>The training thread's events, recorded one by one; then its outcome.</summary>
    private async Task PumpAsync(ChannelReader<TrainingEvent> events, Task<bool> training, TrainingWorker worker)
    {
        try
        {
            await foreach (var e in events.ReadAllAsync())
            {
                await ApplyAsync(RunRecorder.Record(Run, _activity.Seen, e, DateTimeOffset.UtcNow));
                if (_book.ReportDue)
                {
                    Hold(true);
                    await _book.ReportWhileTrainingAsync();
                }
            }

            bool finished;
            try { finished = await training; }
            catch (OperationCanceledException) { finished = false; }
            await ApplyAsync(RunRecorder.Ended(Run, _activity.Seen, finished, worker.StopRequested));
        }
        catch (InconsistentStateException e)
        {
            // Storage holds another writer's state (a lost response of our own write is resolved by ReadBackGrainStorage and
            // never gets here): reload it, so until this activation goes the run reports what storage holds, not our change.
            _logger.LogWarning("run {Run}: state changed elsewhere ({Message}); reloading and deactivating", Name, e.Message);
            await _book.ReloadAsync();
            Pause();
        }
        catch (StateUnavailableException e)
        {
            // Storage refused every retry: stop the trainer so the stored state (Training, an earlier checkpoint) still
            // describes what runs; the next activation resumes from the newest good checkpoint.
            _logger.LogError(e.InnerException, "run {Run}: state could not be saved; pausing training until storage answers", Name);
            Pause();
        }
        catch (Exception e)
        {
            _logger.LogError(e, "run {Run}: training failed", Name);
            await FailAsync(e.Message);
        }
        finally
        {
            if (Run.State != TrainingState.Training && !_activity.Running && !_probes.Busy && !_activity.IsExporting) Hold(false);
        }
    }

    private void Pause()
    {
        _activity.Cancellation?.Cancel();
        DeactivateOnIdle();
    }

    private async Task FailAsync(string message)
    {
        try { await ApplyAsync(RunRecorder.Failed(Run, _activity.Seen, message)); }
        catch (Exception e) { _logger.LogError(e, "run {Run}: could not record the failure", Name); }
    }

    // ---- probing and export (dedicated threads) --------------------------------------------------------------------------

    private async Task ProbeAsync(ProbeRequest request)
    {
        Hold(true);
        try
        {
            var (source, loader) = _activity.Data(GrainFactory, Run.Config!, _blobs, _options.CacheBytes);
            var scores = await new RunProber(Run.Config!, _baselines).ProbeAsync(Name, _checkpoints, request, source, loader,
                activity => _activity.ProbeActivity = activity, _activity.Cancellation?.Token ?? CancellationToken.None);
            if (scores.Count == 0) _logger.LogInformation("run {Run}: no labelled videos to probe at step {Step}", Name, request.Step);
            await ApplyAsync(RunRecorder.Probed(Run, _activity.Seen, scores));
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "run {Run}: probe at step {Step} failed", Name, request.Step);
            await ApplyAsync(RunRecorder.ProbeFailed(Run, _activity.Seen, request.Step, e.Message));
        }
        finally
        {
            _activity.ProbeActivity = null;
            if (Run.State != TrainingState.Training && !_activity.Running && _probes.Waiting is null && !_activity.IsExporting) Hold(false);
        }
    }

    private async Task ExportAsync()
    {
        Hold(true);
        var step = Run.LatestCheckpointStep;
        ExportInfo export;
        try
        {
            var (source, loader) = _activity.Data(GrainFactory, Run.Config!, _blobs, _options.CacheBytes);
            export = await RunExporter.ExportAsync(Name, _checkpoints, step, Run.Config!, source, loader, _blobs);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "run {Run}: export failed", Name);
            export = new ExportInfo { Step = step, At = DateTimeOffset.UtcNow, Error = e.Message };
        }
        await ApplyAsync(RunRecorder.Exported(Run, _activity.Seen, export));
        if (!_activity.Running && !_probes.Busy) Hold(false); // back to idle collection
    }
}
