using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using LvMae.Contracts;
using LvMae.Pipeline;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace LvMae.Grains.Training;

/// <summary>A training run's persisted state (small: checkpoints, metrics and exports live in their own blobs).</summary>
public sealed class TrainingRunState
{
    public TrainingRunConfig? Config { get; set; }
    public TrainingState State { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public long TotalSteps { get; set; }
    public string? LatestCheckpoint { get; set; }
    public long LatestCheckpointStep { get; set; }
    public long Epoch { get; set; }
    public string? Message { get; set; }
    public int Resumes { get; set; }
    /// <summary>The latest score per (column, features, probe); the history is in metrics.jsonl.</summary>
    public List<ProbeScore> Probes { get; set; } = [];
    public ExportInfo? Export { get; set; }
    /// <summary>FSQ-target runs: the fitted codebook's usage.</summary>
    public string? Codebook { get; set; }
    /// <summary>The corpus per split at the run's start (<see cref="RunSettings.Census"/>).</summary>
    public List<SplitCount> Data { get; set; } = [];
}

/// <summary>
/// One training run (key = run name). The grain orchestrates small parts: the <see cref="TrainingWorker"/> trains on a
/// dedicated thread and uploads checkpoints through its <see cref="CheckpointUploader"/> (<see cref="CheckpointStore"/>:
/// SHA-256 verified); a bounded channel brings its events here, where this grain records checkpoints in its state
/// (<see cref="RunStateWriter"/>: retried writes), logs metrics (<see cref="RunMetricsLog"/>), upserts the registry,
/// queues probes (<see cref="ProbeQueue"/>, <see cref="RunProber"/>), exports (<see cref="RunExporter"/>) and draws the
/// plot (<see cref="RunPlotter"/>). Placed on GPU silos when there are any. While the run trains it keeps an Orleans
/// reminder (<see cref="ResumeReminder"/>, stored in the cluster's reminder table): after a crash the state still says
/// Training, and the next tick activates the grain on a live silo, which resumes from the newest checkpoint that verifies,
/// whose metadata records the feed position, so the resumed run sees the batches the lost one would have. The reminder
/// goes when the run is done, stopped, failed or deleted.
/// </summary>
[GrainType("lvmae.training-run")]
[PreferGpuSilo]
public sealed class TrainingRunGrain : Grain, ITrainingRunGrain, IRemindable
{
    /// <summary>The reminder a training run keeps while its state says Training.</summary>
    public const string ResumeReminder = "resume";
    private const int RecentSkipCount = 20;
    private static readonly TimeSpan MetricsFlushInterval = TimeSpan.FromSeconds(30);
    private static readonly JsonSerializerOptions ConfigJson = new() { WriteIndented = true };

    private readonly IPersistentState<TrainingRunState> _state;
    private readonly BlobStore _blobs;
    private readonly TrainingOptions _options;
    private readonly ProbeBaselineCache _baselines;
    private readonly ILocalSiloDetails _silo;
    private readonly ILogger<TrainingRunGrain> _logger;
    private readonly RunStateWriter _writer;
    private readonly RunMetricsLog _metrics;
    private readonly CheckpointStore _checkpoints;
    private readonly ProbeQueue _probes;
    private volatile ProbeActivity? _probeActivity; // written by the probe's thread, read by GetProgress

    private CancellationTokenSource? _cts;
    private TrainingWorker? _worker;
    private Task<bool>? _training;
    private Task? _pump;
    private bool _starting;
    private string? _device;
    private TrainingSchedule? _schedule;
    private StepEvent? _lastStep;
    private readonly StepTimeAverage _stepTime = new();
    private DateTimeOffset _lastReport = DateTimeOffset.MinValue;
    private readonly Queue<string> _recentSkips = new();
    private long _skipped;
    private IndexEmbeddedVideoSource? _source;
    private IEmbeddingLoader? _loader;
    private Task? _exporting;
    private Task _plotting = Task.CompletedTask;
    private bool _reminderOn;

    public TrainingRunGrain(
        [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<TrainingRunState> state,
        BlobStore blobs, IOptions<TrainingOptions> options, ProbeBaselineCache baselines, ILocalSiloDetails silo, ILogger<TrainingRunGrain> logger)
    {
        (_state, _blobs, _options, _baselines, _silo, _logger) = (state, blobs, options.Value, baselines, silo, logger);
        var name = this.GetPrimaryKeyString();
        _writer = new RunStateWriter(() => state.WriteStateAsync(), _options.StateWriteAttempts, _options.StateWriteRetryDelay,
            (e, attempt, delay) => logger.LogWarning("run {Run}: state write {Attempt} failed ({Error}); retrying in {Delay}", name, attempt, e.Message, delay));
        _metrics = new RunMetricsLog(blobs, name);
        _checkpoints = new CheckpointStore(blobs, name);
        _probes = new ProbeQueue(ProbeAsync);
    }

    private string Name => this.GetPrimaryKeyString();
    private TrainingRunState Run => _state.State;   // the persisted state (written with _state.WriteStateAsync)
    /// <summary>Training, or its pump still recording the outcome (a resume ping in between must not start a second worker).</summary>
    private bool Running => _starting || _training is { IsCompleted: false } || _pump is { IsCompleted: false };
    private bool Busy => Running || _probes.Busy || _exporting is { IsCompleted: false };

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (_state.RecordExists && Run.State == TrainingState.Training) _ = StartTrainingAsync();
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => await CancelTrainingAsync();

    // ---- the API ---------------------------------------------------------------------------------------------------------

    public async Task<TrainingProgress> Start(TrainingRunConfig config)
    {
        BlobLayout.ValidateId(Name, "run name");
        RunSettings.Validate(config);
        if (_state.RecordExists && Run.State != TrainingState.None)
        {
            var differences = RunSettings.Differences(Run.Config!, config);
            if (differences.Count > 0)
                throw new ArgumentException($"run '{Name}' exists with another config ({string.Join("; ", differences)}): resume it as it is, delete it, or pick another name");
            return await Resume();
        }

        var data = await CensusAsync(config);
        var total = RunSettings.TotalSteps(config, data.Where(d => d.PreTrained).Sum(d => d.Videos));
        _state.State = new TrainingRunState { Config = config, State = TrainingState.Training, CreatedAt = DateTimeOffset.UtcNow, TotalSteps = total, Data = data.ToList() };
        _logger.LogInformation("run {Run}: {Data}", Name, SplitCount.Describe(data));
        _schedule = RunSettings.Schedule(config, total);
        await _blobs.UploadAsync(BlobLayout.RunConfig(Name), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(config, ConfigJson)), contentType: "application/json");
        await _writer.SaveAsync();
        await ReportAsync(flushMetrics: true);
        _ = StartTrainingAsync();
        return Progress();
    }

    public Task<TrainingProgress> GetProgress() => Task.FromResult(Progress());

    public async Task<TrainingProgress> Resume()
    {
        // A stop or failure is recorded before its trainer and pump have wound down: a resume right after it waits for them
        // (it would otherwise see the run still running and do nothing).
        if (Run.State is TrainingState.Stopped or TrainingState.Failed)
            foreach (var task in new Task?[] { _training, _pump }.OfType<Task>())
                try { await task.WaitAsync(TimeSpan.FromMinutes(1)); }
                catch (Exception) { /* its outcome is in the state; Running says whether it is still going */ }
        if (_state.RecordExists && Run.State is TrainingState.Stopped or TrainingState.Failed && !Running)
        {
            Run.State = TrainingState.Training;
            Run.Message = null;
            await _writer.SaveAsync();
            await ReportAsync(flushMetrics: true);
        }
        ContinueTraining();
        return Progress();
    }

    /// <summary>A run whose stored state says Training trains in this activation; any other run is left as it is.</summary>
    private void ContinueTraining()
    {
        if (_state.RecordExists && Run.State == TrainingState.Training && !Running) _ = StartTrainingAsync();
    }

    public Task<TrainingProgress> Stop()
    {
        if (_worker is not null && Running) _worker.StopRequested = true;
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
        if (_exporting is not { IsCompleted: false }) _exporting = ExportAsync();
        return Task.FromResult(Progress());
    }

    public async Task Delete()
    {
        BlobLayout.ValidateId(Name, "run name");
        await CancelTrainingAsync();
        await Task.WhenAll(_probes.Idle, _exporting ?? Task.CompletedTask, _plotting).WaitAsync(TimeSpan.FromMinutes(2));
        await foreach (var blob in _blobs.ListAsync(BlobLayout.RunPrefix(Name))) await _blobs.DeleteIfExistsAsync(blob.Name);
        if (_state.RecordExists) await _state.ClearStateAsync();
        _state.State = new TrainingRunState();
        await DropResumeReminderAsync();
        await GrainFactory.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Remove(Name);
        DeactivateOnIdle();
    }

    // ---- durable resume: the reminder ------------------------------------------------------------------------------------

    /// <summary>A tick activates the grain (on a live silo after its silo died): a run still Training continues from its newest
    /// good checkpoint (<see cref="OnActivateAsync"/> started it already when this tick activated it); any other run drops the reminder.</summary>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ResumeReminder) return;
        if (_state.RecordExists && Run.State == TrainingState.Training) ContinueTraining();
        else await DropResumeReminderAsync();
    }

    /// <summary>Registers the reminder (once per activation that trains). A failure is logged and tried again at the next report:
    /// the run trains meanwhile, only a silo loss before then would wait for a call to the run.</summary>
    private async Task KeepResumeReminderAsync()
    {
        if (_reminderOn) return;
        try
        {
            await this.RegisterOrUpdateReminder(ResumeReminder, _options.ResumeReminderPeriod, _options.ResumeReminderPeriod);
            _reminderOn = true;
        }
        catch (Exception e) { _logger.LogWarning("run {Run}: registering the resume reminder failed ({Error}); trying again later", Name, e.Message); }
    }

    /// <summary>Removes the reminder (read afresh: the handle of another activation may be stale). A failure is logged; the next tick
    /// finds the run not Training and tries again.</summary>
    private async Task DropResumeReminderAsync()
    {
        _reminderOn = false;
        try
        {
            if (await this.GetReminder(ResumeReminder) is { } reminder) await this.UnregisterReminder(reminder);
        }
        catch (Exception e) { _logger.LogWarning("run {Run}: removing the resume reminder failed ({Error}); its next tick removes it", Name, e.Message); }
    }

    private TrainingProgress Progress()
    {
        var last = _lastStep;
        var eta = last is not null && Run.State == TrainingState.Training ? _stepTime.Eta(Run.TotalSteps - last.Result.Step) : null;
        return new TrainingProgress
        {
            Run = Name,
            State = _state.RecordExists ? Run.State : TrainingState.None,
            Step = Math.Max(last?.Result.Step ?? 0, Run.LatestCheckpointStep),
            TotalSteps = Run.TotalSteps,
            Epoch = last?.Epoch ?? Run.Epoch,
            Loss = last?.Result.Loss,
            LearningRate = last?.Result.LearningRate,
            TokensPerSecond = last?.TokensPerSecond,
            Eta = eta,
            LatestCheckpoint = Run.LatestCheckpoint,
            LatestCheckpointStep = Run.LatestCheckpointStep,
            Silo = _silo.SiloAddress.ToString(),
            Device = _device,
            SkippedVideos = _skipped,
            RecentSkips = _recentSkips.ToList(),
            Message = Run.Message,
            Probes = Run.Probes.ToList(),
            Probing = _probes.Busy,
            ProbeActivity = _probes.Busy ? _probeActivity : null,
            Config = Run.Config,
            Resumes = Run.Resumes,
            Export = Run.Export,
            Exporting = _exporting is { IsCompleted: false },
            Codebook = Run.Codebook,
            Schedule = Schedule(),
            Data = Run.Data.ToList(),
        };
    }

    private TrainingSchedule? Schedule() => _schedule ??= Run.Config is { } config && Run.TotalSteps > 0 ? RunSettings.Schedule(config, Run.TotalSteps) : null;

    /// <summary>The corpus now, per split, and what the run pre-trains on.</summary>
    private async Task<IReadOnlyList<SplitCount>> CensusAsync(TrainingRunConfig config)
    {
        var videos = new List<EmbeddedVideoDescriptor>();
        await foreach (var video in new IndexEmbeddedVideoSource(GrainFactory, config.LabelColumns).ListAsync(config.Encoder)) videos.Add(video);
        return RunSettings.Census(config, videos);
    }

    // ---- training --------------------------------------------------------------------------------------------------------

    private async Task StartTrainingAsync()
    {
        if (Running || Run.Config is not { } config) return;
        _starting = true;
        try
        {
            DelayDeactivation(TimeSpan.FromHours(1));
            await KeepResumeReminderAsync();
            var (source, loader) = Data(config);
            var rejected = new List<RejectedCheckpoint>();
            var resume = await _checkpoints.LatestGoodAsync(rejected);
            foreach (var r in rejected)
            {
                _logger.LogWarning("run {Run}: checkpoint {Blob} skipped: {Reason}", Name, r.Blob, r.Reason);
                _metrics.Add(new JsonObject { ["checkpoint_rejected"] = r.Blob, ["reason"] = r.Reason });
            }
            if (resume is not null)
            {
                Run.Resumes++;
                (Run.LatestCheckpoint, Run.LatestCheckpointStep, Run.Epoch) = (resume.Blob, resume.Step, resume.Position.Epoch);
                await _writer.SaveAsync();
                _logger.LogInformation("run {Run}: resuming from {Checkpoint} (step {Step}, epoch {Epoch})", Name, resume.Blob, resume.Step, resume.Position.Epoch);
            }
            else if (Run.LatestCheckpoint is not null)
                throw new InvalidOperationException($"no usable checkpoint of run '{Name}' is left (the state recorded {Run.LatestCheckpoint})");
            var channel = TrainingWorker.CreateChannel();
            _cts?.Dispose();
            _cts = new CancellationTokenSource();
            var worker = _worker = new TrainingWorker(config, Run.TotalSteps, resume, _checkpoints, source, loader, _options, channel.Writer);
            var token = _cts.Token;
            _training = DedicatedThread.Run($"lvmae-train-{Name}", () => worker.Run(token));
            _ = _training.ContinueWith(_ => channel.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _pump = PumpAsync(channel.Reader, _training, worker);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "run {Run}: could not start training", Name);
            await FailAsync($"could not start: {e.Message}");
        }
        finally
        {
            _starting = false;
        }
    }

    private (IEmbeddedVideoSource Source, IEmbeddingLoader Loader) Data(TrainingRunConfig config)
    {
        _source ??= new IndexEmbeddedVideoSource(GrainFactory, config.LabelColumns);
        _loader ??= new CachingEmbeddingLoader(new BlobEmbeddingLoader(_blobs.Container), _options.CacheBytes);
        return (_source, _loader);
    }

    private async Task PumpAsync(ChannelReader<TrainingEvent> events, Task<bool> training, TrainingWorker worker)
    {
        try
        {
            await foreach (var e in events.ReadAllAsync())
            {
                await HandleAsync(e);
                if (DateTimeOffset.UtcNow - _lastReport > _options.ReportInterval)
                {
                    DelayDeactivation(TimeSpan.FromHours(1));
                    await KeepResumeReminderAsync();
                    await ReportAsync(flushMetrics: DateTimeOffset.UtcNow - _metrics.LastFlush > MetricsFlushInterval);
                }
            }

            bool finished;
            try { finished = await training; }
            catch (OperationCanceledException) { finished = false; }
            if (finished) (Run.State, Run.Message) = (TrainingState.Done, $"finished at step {Run.LatestCheckpointStep}");
            else if (worker.StopRequested) (Run.State, Run.Message) = (TrainingState.Stopped, $"stopped at step {Run.LatestCheckpointStep}");
            // else: cancelled (deactivation, delete, storage gone); the state stays Training and the next activation resumes.
            if (finished || worker.StopRequested)
            {
                await _writer.SaveAsync();
                await DropResumeReminderAsync();
            }
            await ReportAsync(flushMetrics: true);
            if (finished) await PlotAsync();
        }
        catch (InconsistentStateException e)
        {
            // Storage holds another writer's state (a lost response of our own write is resolved by ReadBackGrainStorage and
            // never gets here): reload it, so until this activation goes the run reports what storage holds, not our change.
            _logger.LogWarning("run {Run}: state changed elsewhere ({Message}); reloading and deactivating", Name, e.Message);
            try { await _state.ReadStateAsync(); }
            catch (Exception reload) { _logger.LogWarning("run {Run}: reloading its state failed: {Message}", Name, reload.Message); }
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
            if (Run.State != TrainingState.Training && !Busy) DelayDeactivation(TimeSpan.FromSeconds(-1));
        }
    }

    private async Task HandleAsync(TrainingEvent e)
    {
        switch (e)
        {
            case WaitingEvent waiting:
                Run.Message = waiting.Message; // shown by GetProgress; persisted with the next state write
                break;
            case CodebookEvent codebook:
                Run.Codebook = codebook.Summary;
                _metrics.Add(new JsonObject
                {
                    ["fsq_codebook"] = codebook.Usage.CodebookSize, ["fsq_codes_used"] = codebook.Usage.Used,
                    ["fsq_perplexity"] = codebook.Usage.Perplexity, ["fsq_loss"] = codebook.FinalLoss, ["fsq_videos"] = codebook.Videos,
                });
                break;
            case StartedEvent started:
                (_device, _schedule) = (started.Device, started.Schedule);
                if (Run.Message?.StartsWith("waiting", StringComparison.Ordinal) == true) Run.Message = null;
                break;
            case StepEvent step:
                _lastStep = step;
                _stepTime.Add(step.Result.Elapsed);
                _metrics.Step(step);
                break;
            case SkipEvent skip:
                _skipped++;
                _recentSkips.Enqueue($"{skip.Skip.VideoId}: {skip.Skip.Reason}");
                while (_recentSkips.Count > RecentSkipCount) _recentSkips.Dequeue();
                _logger.LogWarning("run {Run}: skipped video {Video} in epoch {Epoch}: {Reason}", Name, skip.Skip.VideoId, skip.Skip.Epoch, skip.Skip.Reason);
                _metrics.Add(new JsonObject { ["skip"] = skip.Skip.VideoId, ["epoch"] = skip.Skip.Epoch, ["reason"] = skip.Skip.Reason });
                break;
            case CheckpointFailedEvent failed:
                _logger.LogWarning("run {Run}: checkpoint of step {Step} not uploaded: {Error}", Name, failed.Step, failed.Error);
                _metrics.Add(new JsonObject { ["checkpoint_error"] = failed.Error, ["step"] = failed.Step });
                break;
            case CheckpointEvent checkpoint:
                (Run.LatestCheckpoint, Run.LatestCheckpointStep, Run.Epoch) = (checkpoint.Blob, checkpoint.Step, checkpoint.Position.Epoch);
                try { await _writer.SaveAsync(); }
                catch (Exception error) when (error is not InconsistentStateException) { throw new StateUnavailableException(error); }
                _metrics.Add(new JsonObject { ["checkpoint"] = checkpoint.Blob, ["step"] = checkpoint.Step });
                await ReportAsync(flushMetrics: true);
                if (checkpoint.Probe) _probes.Request(new ProbeRequest(checkpoint.Step, null, null));
                else _plotting = PlotAsync();
                break;
        }
    }

    /// <summary>Cancels the trainer and waits (bounded) for it and its pump.</summary>
    private async Task CancelTrainingAsync()
    {
        _cts?.Cancel();
        foreach (var task in new[] { _training, _pump })
            if (task is not null)
                try { await task.WaitAsync(TimeSpan.FromSeconds(20)); }
                catch (Exception) { /* cancelled, failed or too slow: the state still says where to resume */ }
    }

    private void Pause()
    {
        _cts?.Cancel();
        DeactivateOnIdle();
    }

    private async Task FailAsync(string message)
    {
        Run.State = TrainingState.Failed;
        Run.Message = message.Length > 500 ? message[..500] : message;
        try
        {
            await _writer.SaveAsync();
            await DropResumeReminderAsync();
            await ReportAsync(flushMetrics: true);
        }
        catch (Exception e) { _logger.LogError(e, "run {Run}: could not record the failure", Name); }
    }

    /// <summary>A state write failed after every retry.</summary>
    private sealed class StateUnavailableException(Exception inner) : Exception("the run's state could not be saved", inner);

    // ---- probing and export (dedicated threads) --------------------------------------------------------------------------

    private async Task ProbeAsync(ProbeRequest request)
    {
        DelayDeactivation(TimeSpan.FromHours(1)); // background work receives no calls: keep the activation alive
        try
        {
            var config = Run.Config!;
            var (source, loader) = Data(config);
            var checkpoint = (await _checkpoints.LoadAsync(request.Step)).Checkpoint;
            var prober = new RunProber(config, _baselines);
            var token = _cts?.Token ?? CancellationToken.None;
            var probing = System.Diagnostics.Stopwatch.StartNew();
            var scores = await DedicatedThread.Run($"lvmae-probe-{Name}", () =>
            {
                var dim = LvMae.Model.Training.Checkpoint.ReadHeader(checkpoint).Options.Model.EmbeddingDim;
                return prober.Run(checkpoint, request.Step, RunProber.LoadLabelled(source, loader, config.Encoder, dim, token), request.Column, request.Kind,
                    activity => _probeActivity = activity);
            });
            LvMae.Pipeline.Telemetry.LvMaeMetrics.ProbeDuration.Record(probing.Elapsed.TotalSeconds);
            foreach (var s in scores)
            {
                Run.Probes.RemoveAll(p => p.Column == s.Column && p.Features == s.Features && p.Probe == s.Probe);
                Run.Probes.Add(s);
                _metrics.Probe(s);
            }
            if (scores.Count == 0) _logger.LogInformation("run {Run}: no labelled videos to probe at step {Step}", Name, request.Step);
            await _writer.SaveAsync();
            await ReportAsync(flushMetrics: true);
            await PlotAsync();
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "run {Run}: probe at step {Step} failed", Name, request.Step);
            _metrics.Add(new JsonObject { ["probe_error"] = e.Message, ["step"] = request.Step });
        }
        finally
        {
            _probeActivity = null;
            if (Run.State != TrainingState.Training && !Running && _probes.Waiting is null && _exporting is not { IsCompleted: false })
                DelayDeactivation(TimeSpan.FromSeconds(-1));
        }
    }

    private async Task ExportAsync()
    {
        DelayDeactivation(TimeSpan.FromHours(1));
        var step = Run.LatestCheckpointStep;
        try
        {
            var config = Run.Config!;
            var (source, loader) = Data(config);
            var checkpoint = (await _checkpoints.LoadAsync(step)).Checkpoint;
            var name = Name;
            Run.Export = await DedicatedThread.Run($"lvmae-export-{Name}", () => RunExporter.Export(name, checkpoint, step, config, source, loader, _blobs, CancellationToken.None));
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "run {Run}: export failed", Name);
            Run.Export = new ExportInfo { Step = step, At = DateTimeOffset.UtcNow, Error = e.Message };
        }
        await _writer.SaveAsync();
        if (!Running && !_probes.Busy) DelayDeactivation(TimeSpan.FromSeconds(-1)); // back to idle collection
    }

    // ---- reporting: registry, metrics.jsonl, plot ------------------------------------------------------------------------

    /// <summary>Upserts the registry; appends the buffered metric lines when asked.</summary>
    private async Task ReportAsync(bool flushMetrics)
    {
        _lastReport = DateTimeOffset.UtcNow;
        if (flushMetrics)
            try { await _metrics.FlushAsync(); }
            catch (Exception e) { _logger.LogWarning(e, "run {Run}: appending metrics failed", Name); }
        try { await GrainFactory.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Upsert(Summary()); }
        catch (Exception e) { _logger.LogWarning(e, "run {Run}: registry update failed", Name); }
    }

    private RunSummary Summary()
    {
        var metrics = new Dictionary<string, double>();
        if (_lastStep is { } last)
        {
            metrics["loss"] = last.Result.Loss;
            metrics["lr"] = last.Result.LearningRate;
            metrics["tokens_per_s"] = Math.Round(last.TokensPerSecond, 1);
        }
        metrics["total_steps"] = Run.TotalSteps;
        if (_skipped > 0) metrics["skipped_videos"] = _skipped;
        foreach (var p in Run.Probes)
            metrics[$"{p.Column}/{p.Features}/{p.Probe}"] = p.Top1 ?? p.Mse ?? double.NaN;
        return new RunSummary
        {
            Name = Name,
            State = Run.State.ToString(),
            Step = Math.Max(_lastStep?.Result.Step ?? 0, Run.LatestCheckpointStep),
            CreatedAt = Run.CreatedAt,
            UpdatedAt = DateTimeOffset.UtcNow,
            Metrics = metrics,
            Message = Run.Message,
            LatestCheckpoint = Run.LatestCheckpoint,
            Config = Run.Config,
            Schedule = Schedule(),
        };
    }

    /// <summary>Loss and probe accuracy against step (from metrics.jsonl, so resumed runs plot their whole history).</summary>
    private async Task PlotAsync()
    {
        try
        {
            var (loss, probes) = (await _metrics.ReadAsync()).Series();
            if (loss.Count == 0 && probes.Count == 0) return;
            await _blobs.UploadAsync(BlobLayout.RunPlot(Name, RunPlotter.TrainingPlot), RunPlotter.Render(Name, loss, probes), contentType: "image/png");
        }
        catch (Exception e) { _logger.LogWarning(e, "run {Run}: plotting failed", Name); }
    }
}
