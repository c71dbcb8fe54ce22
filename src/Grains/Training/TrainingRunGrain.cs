using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Azure.Storage.Blobs.Specialized;
using LvMae.Contracts;
using LvMae.Model;
using LvMae.Model.Adaptive;
using LvMae.Model.Masking;
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
}

/// <summary>
/// One training run (key = run name). The model lives on this silo's device (CUDA when present) and trains on a dedicated
/// thread (<see cref="TrainingWorker"/>) fed by the training feed over the corpus index; the thread reports through a channel
/// that a background loop of the grain drains: it records checkpoints in the state, appends metrics.jsonl, upserts the
/// registry, starts probes and draws the plot. Placed on GPU silos when there are any (<see cref="PreferGpuSiloAttribute"/>).
/// After a crash the state still says Training: the next activation (<see cref="TrainingResumer"/> pings) resumes from the
/// latest checkpoint blob, whose metadata records the feed position, so the resumed run sees the batches the lost one would have.
/// </summary>
[GrainType("lvmae.training-run")]
[PreferGpuSilo]
public sealed class TrainingRunGrain(
    [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<TrainingRunState> state,
    BlobStore blobs,
    IOptions<TrainingOptions> options,
    ILocalSiloDetails silo,
    ILogger<TrainingRunGrain> logger) : Grain, ITrainingRunGrain
{
    private const int RecentSkipCount = 20;
    private static readonly JsonSerializerOptions ConfigJson = new() { WriteIndented = true };

    private readonly TrainingOptions _options = options.Value;
    private CancellationTokenSource? _cts;
    private TrainingWorker? _worker;
    private Task<bool>? _training;
    private Task? _pump;
    private bool _starting;
    private string? _device;
    private StepEvent? _lastStep;
    private DateTimeOffset _lastReport = DateTimeOffset.MinValue;
    private DateTimeOffset _lastAppend = DateTimeOffset.MinValue;
    private static readonly TimeSpan MetricsFlushInterval = TimeSpan.FromSeconds(30);
    private readonly Queue<string> _recentSkips = new();
    private long _skipped;
    private readonly List<string> _metricLines = [];
    private Task _saving = Task.CompletedTask;
    private Task _appending = Task.CompletedTask;
    private IndexEmbeddedVideoSource? _source;
    private IEmbeddingLoader? _loader;
    private RunProber? _prober;
    private Task? _probing;
    private (byte[]? Checkpoint, long Step, string? Column, string? Kind)? _pendingProbe;
    private Task? _exporting;

    private string Name => this.GetPrimaryKeyString();
    private TrainingRunState S => state.State;
    /// <summary>Training, or its pump still recording the outcome (a resume ping in between must not start a second worker).</summary>
    private bool Running => _starting || _training is { IsCompleted: false } || _pump is { IsCompleted: false };

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists && S.State == TrainingState.Training) _ = StartTrainingAsync();
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _cts?.Cancel();
        foreach (var task in new[] { _training, _pump })
            if (task is not null)
                try { await task.WaitAsync(TimeSpan.FromSeconds(20), cancellationToken); }
                catch (Exception) { /* cancelled, failed or too slow: the state still says where to resume */ }
    }

    // ---- the API ---------------------------------------------------------------------------------------------------------

    public async Task<TrainingProgress> Start(TrainingRunConfig config)
    {
        BlobLayout.ValidateId(Name, "run name");
        Validate(config);
        if (state.RecordExists && S.State != TrainingState.None)
        {
            if (S.State is TrainingState.Stopped or TrainingState.Failed) return await Resume();
            if (S.State == TrainingState.Training && !Running) _ = StartTrainingAsync();
            return Progress();
        }

        var total = config.Steps ?? await EstimateStepsAsync(config);
        state.State = new TrainingRunState { Config = config, State = TrainingState.Training, CreatedAt = DateTimeOffset.UtcNow, TotalSteps = total };
        await blobs.UploadAsync(BlobLayout.RunConfig(Name), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(config, ConfigJson)), contentType: "application/json");
        await SaveAsync();
        await ReportAsync(flushMetrics: true);
        _ = StartTrainingAsync();
        return Progress();
    }

    public Task<TrainingProgress> GetProgress() => Task.FromResult(Progress());

    public async Task<TrainingProgress> Resume()
    {
        if (!state.RecordExists || S.State is TrainingState.None or TrainingState.Done) return Progress();
        if (S.State is TrainingState.Stopped or TrainingState.Failed)
        {
            S.State = TrainingState.Training;
            S.Message = null;
            await SaveAsync();
            await ReportAsync(flushMetrics: true);
        }
        if (!Running) _ = StartTrainingAsync();
        return Progress();
    }

    public Task<TrainingProgress> Stop()
    {
        if (_worker is not null && Running) _worker.StopRequested = true;
        return Task.FromResult(Progress());
    }

    public Task<TrainingProgress> Probe(string? column, string? kind)
    {
        if (kind is not (null or "linear" or "attentive" or "regression")) throw new ArgumentException($"unknown probe kind '{kind}' (linear, attentive, regression)");
        if (S.LatestCheckpoint is null) throw new InvalidOperationException($"run '{Name}' has no checkpoint yet");
        RequestProbe(null, S.LatestCheckpointStep, column, kind);
        return Task.FromResult(Progress());
    }

    public Task<TrainingProgress> Export()
    {
        if (S.LatestCheckpoint is null) throw new InvalidOperationException($"run '{Name}' has no checkpoint yet");
        if (_exporting is not { IsCompleted: false }) _exporting = ExportAsync();
        return Task.FromResult(Progress());
    }

    private TrainingProgress Progress()
    {
        var last = _lastStep;
        TimeSpan? eta = null;
        if (last is not null && last.Result.Elapsed > TimeSpan.Zero && S.State == TrainingState.Training)
            eta = TimeSpan.FromTicks(last.Result.Elapsed.Ticks * Math.Max(0, S.TotalSteps - last.Result.Step));
        return new TrainingProgress
        {
            Run = Name,
            State = state.RecordExists ? S.State : TrainingState.None,
            Step = Math.Max(last?.Result.Step ?? 0, S.LatestCheckpointStep),
            TotalSteps = S.TotalSteps,
            Epoch = last?.Epoch ?? S.Epoch,
            Loss = last?.Result.Loss,
            LearningRate = last?.Result.LearningRate,
            TokensPerSecond = last?.TokensPerSecond,
            Eta = eta,
            LatestCheckpoint = S.LatestCheckpoint,
            LatestCheckpointStep = S.LatestCheckpointStep,
            Silo = silo.SiloAddress.ToString(),
            Device = _device,
            SkippedVideos = _skipped,
            RecentSkips = _recentSkips.ToList(),
            Message = S.Message,
            Probes = S.Probes.ToList(),
            Probing = _probing is { IsCompleted: false },
            Config = S.Config,
            Resumes = S.Resumes,
            Export = S.Export,
            Exporting = _exporting is { IsCompleted: false },
            Codebook = S.Codebook,
        };
    }

    private static void Validate(TrainingRunConfig c)
    {
        if (!MaeConfig.PresetNames.Contains(c.Preset.ToLowerInvariant())) throw new ArgumentException($"unknown preset '{c.Preset}' (use {string.Join(", ", MaeConfig.PresetNames)})");
        MaskingStrategies.Create(c.Masking, c.MaskRatio); // throws ArgumentException for an unknown strategy or ratio
        if (DecoderSelection.Parse(c.DecoderMasking) != DecoderMasking.All && c.DecoderBudget is <= 0 or > 1)
            throw new ArgumentException($"decoder budget {c.DecoderBudget} is not a fraction in (0, 1]");
        if (!(TrainingWorker.IsFsq(c) || c.Targets.Equals("embedding", StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException($"unknown targets '{c.Targets}' (use embedding or fsq)");
        // Fsq throws ArgumentException for bad levels; the code head is d x codebook, so keep the codebook sane.
        if (TrainingWorker.IsFsq(c) && new LvMae.Model.Quantization.Fsq(c.FsqLevels.ToArray()).CodebookSize > 1 << 16)
            throw new ArgumentException($"FSQ levels [{string.Join(",", c.FsqLevels)}] give more than 65536 codes");
        if (c.Steps is <= 0) throw new ArgumentException("steps must be positive");
        if (c.Steps is null && c.Epochs is not > 0) throw new ArgumentException("give steps or a positive number of epochs");
        if (c.BatchSize < 1 || c.MaxTokens < 2) throw new ArgumentException("batch size must be >= 1 and max tokens >= 2");
        BlobLayout.EncoderFileName(c.Encoder);
    }

    private async Task<long> EstimateStepsAsync(TrainingRunConfig config)
    {
        var summary = await GrainFactory.SummaryAsync();
        var wanted = BlobLayout.EncoderFileName(config.Encoder);
        var videos = summary.ByEncoder.Where(kv => BlobLayout.EncoderFileName(kv.Key) == wanted).Sum(kv => kv.Value);
        return config.Epochs!.Value * Math.Max(1, (videos + config.BatchSize - 1) / config.BatchSize);
    }

    // ---- training --------------------------------------------------------------------------------------------------------

    private async Task StartTrainingAsync()
    {
        if (Running || S.Config is not { } config) return;
        _starting = true;
        try
        {
            DelayDeactivation(TimeSpan.FromHours(1));
            _source ??= new IndexEmbeddedVideoSource(GrainFactory, config.LabelColumns);
            _loader ??= new CachingEmbeddingLoader(new BlobEmbeddingLoader(blobs.Container), _options.CacheBytes);
            _prober ??= new RunProber(config);
            var resume = await FindResumePointAsync();
            if (resume is not null)
            {
                S.Resumes++;
                S.LatestCheckpoint = resume.Blob;
                S.LatestCheckpointStep = resume.Step;
                S.Epoch = resume.Epoch;
                await SaveAsync();
                logger.LogInformation("run {Run}: resuming from {Checkpoint} (step {Step}, epoch {Epoch})", Name, resume.Blob, resume.Step, resume.Epoch);
            }
            var channel = Channel.CreateUnbounded<TrainingEvent>(new UnboundedChannelOptions { SingleReader = true });
            _cts?.Dispose();
            _cts = new CancellationTokenSource();
            _worker = new TrainingWorker(Name, config, S.TotalSteps, resume, blobs, _source, _loader, _options, channel.Writer);
            var worker = _worker;
            var token = _cts.Token;
            _training = DedicatedThread.Run($"lvmae-train-{Name}", () => worker.Run(token));
            _ = _training.ContinueWith(_ => channel.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _pump = PumpAsync(channel.Reader, _training, worker);
        }
        catch (Exception e)
        {
            logger.LogError(e, "run {Run}: could not start training", Name);
            await FailAsync($"could not start: {e.Message}");
        }
        finally
        {
            _starting = false;
        }
    }

    /// <summary>The newest checkpoint blob of this run (listing, not the state: a checkpoint written just before a crash counts).</summary>
    private async Task<ResumePoint?> FindResumePointAsync()
    {
        BlobEntry? latest = null;
        long latestStep = -1;
        await foreach (var entry in blobs.ListAsync(BlobLayout.RunCheckpointPrefix(Name)))
            if (entry.Metadata.TryGetValue(TrainingWorker.StepMetadata, out var text) && long.TryParse(text, CultureInfo.InvariantCulture, out var step) && step > latestStep)
                (latest, latestStep) = (entry, step);
        if (latest is null) return null;
        var bytes = await blobs.TryDownloadAsync(latest.Name) ?? throw new InvalidOperationException($"checkpoint {latest.Name} vanished");
        long Meta(string key) => long.Parse(latest.Metadata[key], CultureInfo.InvariantCulture);
        return new ResumePoint(bytes, latestStep, Meta(TrainingWorker.EpochMetadata), (int)Meta(TrainingWorker.NextIndexMetadata), latest.Name);
    }

    private async Task PumpAsync(ChannelReader<TrainingEvent> events, Task<bool> training, TrainingWorker worker)
    {
        try
        {
            await foreach (var e in events.ReadAllAsync())
            {
                switch (e)
                {
                    case WaitingEvent waiting:
                        S.Message = waiting.Message; // shown by GetProgress; persisted with the next state write
                        break;
                    case CodebookEvent codebook:
                        S.Codebook = codebook.Summary;
                        Metric(new JsonObject
                        {
                            ["fsq_codebook"] = codebook.Usage.CodebookSize, ["fsq_codes_used"] = codebook.Usage.Used,
                            ["fsq_perplexity"] = codebook.Usage.Perplexity, ["fsq_loss"] = codebook.FinalLoss, ["fsq_videos"] = codebook.Videos,
                        });
                        break;
                    case StartedEvent started:
                        _device = started.Device;
                        if (S.Message?.StartsWith("waiting", StringComparison.Ordinal) == true) S.Message = null;
                        break;
                    case StepEvent step:
                        _lastStep = step;
                        Metric(new JsonObject
                        {
                            ["step"] = step.Result.Step, ["epoch"] = step.Epoch, ["loss"] = step.Result.Loss, ["lr"] = step.Result.LearningRate,
                            ["tokens"] = step.Result.Tokens, ["tokens_per_s"] = Math.Round(step.TokensPerSecond, 1),
                            ["step_ms"] = Math.Round(step.Result.Elapsed.TotalMilliseconds, 2), ["time"] = DateTimeOffset.UtcNow.ToString("O"),
                        });
                        break;
                    case SkipEvent skip:
                        _skipped++;
                        _recentSkips.Enqueue($"{skip.Skip.VideoId}: {skip.Skip.Reason}");
                        while (_recentSkips.Count > RecentSkipCount) _recentSkips.Dequeue();
                        logger.LogWarning("run {Run}: skipped video {Video} in epoch {Epoch}: {Reason}", Name, skip.Skip.VideoId, skip.Skip.Epoch, skip.Skip.Reason);
                        Metric(new JsonObject { ["skip"] = skip.Skip.VideoId, ["epoch"] = skip.Skip.Epoch, ["reason"] = skip.Skip.Reason });
                        break;
                    case CheckpointEvent checkpoint:
                        S.LatestCheckpoint = checkpoint.Blob;
                        S.LatestCheckpointStep = checkpoint.Step;
                        S.Epoch = checkpoint.Epoch;
                        await SaveAsync();
                        Metric(new JsonObject { ["checkpoint"] = checkpoint.Blob, ["step"] = checkpoint.Step });
                        await ReportAsync(flushMetrics: true);
                        if (checkpoint.Probe) RequestProbe(checkpoint.Checkpoint, checkpoint.Step, null, null);
                        else _ = PlotAsync();
                        break;
                }
                if (DateTimeOffset.UtcNow - _lastReport > _options.ReportInterval)
                {
                    DelayDeactivation(TimeSpan.FromHours(1));
                    await ReportAsync(flushMetrics: DateTimeOffset.UtcNow - _lastAppend > MetricsFlushInterval);
                }
            }

            bool finished;
            try { finished = await training; }
            catch (OperationCanceledException) { finished = false; }
            if (finished)
            {
                S.State = TrainingState.Done;
                S.Message = $"finished at step {S.LatestCheckpointStep}";
            }
            else if (worker.StopRequested)
            {
                S.State = TrainingState.Stopped;
                S.Message = $"stopped at step {S.LatestCheckpointStep}";
            }
            // else: cancelled by deactivation; the state stays Training and the next activation resumes.
            if (finished || worker.StopRequested) await SaveAsync();
            await ReportAsync(flushMetrics: true);
            if (finished) await PlotAsync();
        }
        catch (Exception e) when (e is not InconsistentStateException)
        {
            logger.LogError(e, "run {Run}: training failed", Name);
            await FailAsync(e.Message);
        }
        catch (InconsistentStateException e)
        {
            logger.LogWarning("run {Run}: state changed elsewhere ({Message}); deactivating", Name, e.Message);
            _cts?.Cancel();
            DeactivateOnIdle();
        }
        finally
        {
            if (S.State != TrainingState.Training && _probing is not { IsCompleted: false } && _exporting is not { IsCompleted: false })
                DelayDeactivation(TimeSpan.FromSeconds(-1));
        }
    }

    private async Task FailAsync(string message)
    {
        S.State = TrainingState.Failed;
        S.Message = message.Length > 500 ? message[..500] : message;
        try
        {
            await SaveAsync();
            await ReportAsync(flushMetrics: true);
        }
        catch (Exception e) { logger.LogError(e, "run {Run}: could not record the failure", Name); }
    }

    // ---- probing and export (dedicated threads) --------------------------------------------------------------------------

    private void RequestProbe(byte[]? checkpoint, long step, string? column, string? kind)
    {
        if (_probing is { IsCompleted: false })
        {
            _pendingProbe = (checkpoint, step, column, kind); // the latest request wins
            return;
        }
        _probing = ProbeAsync(checkpoint, step, column, kind);
    }

    private async Task ProbeAsync(byte[]? checkpoint, long step, string? column, string? kind)
    {
        DelayDeactivation(TimeSpan.FromHours(1)); // background work receives no calls: keep the activation alive
        try
        {
            var config = S.Config!;
            _source ??= new IndexEmbeddedVideoSource(GrainFactory, config.LabelColumns);
            _loader ??= new CachingEmbeddingLoader(new BlobEmbeddingLoader(blobs.Container), _options.CacheBytes);
            _prober ??= new RunProber(config);
            checkpoint ??= await blobs.TryDownloadAsync(BlobLayout.RunCheckpoint(Name, step)) ?? throw new InvalidOperationException($"checkpoint of step {step} is missing");
            var (source, loader, prober, bytes) = (_source, _loader, _prober, checkpoint);
            var token = _cts?.Token ?? CancellationToken.None;
            var scores = await DedicatedThread.Run($"lvmae-probe-{Name}", () =>
            {
                var dim = LvMae.Model.Training.Checkpoint.ReadHeader(bytes).Options.Model.EmbeddingDim;
                var videos = RunProber.LoadLabelled(source, loader, config.Encoder, dim, token);
                return prober.Run(bytes, step, videos, column, kind);
            });
            foreach (var s in scores)
            {
                S.Probes.RemoveAll(p => p.Column == s.Column && p.Features == s.Features && p.Probe == s.Probe);
                S.Probes.Add(s);
                Metric(new JsonObject
                {
                    ["probe"] = $"{s.Column}/{s.Features}/{s.Probe}", ["step"] = s.Step, ["top1"] = s.Top1, ["mse"] = s.Mse,
                    ["train"] = s.Train, ["test"] = s.Test, ["classes"] = s.Classes,
                });
            }
            if (scores.Count == 0) logger.LogInformation("run {Run}: no labelled videos to probe at step {Step}", Name, step);
            await SaveAsync();
            await ReportAsync(flushMetrics: true);
            await PlotAsync();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "run {Run}: probe at step {Step} failed", Name, step);
            Metric(new JsonObject { ["probe_error"] = e.Message, ["step"] = step });
        }
        finally
        {
            if (_pendingProbe is { } next)
            {
                _pendingProbe = null;
                _probing = ProbeAsync(next.Checkpoint, next.Step, next.Column, next.Kind);
            }
            else if (!Running && _exporting is not { IsCompleted: false }) DelayDeactivation(TimeSpan.FromSeconds(-1));
        }
    }

    private async Task ExportAsync()
    {
        DelayDeactivation(TimeSpan.FromHours(1));
        var step = S.LatestCheckpointStep;
        try
        {
            var config = S.Config!;
            _source ??= new IndexEmbeddedVideoSource(GrainFactory, config.LabelColumns);
            _loader ??= new CachingEmbeddingLoader(new BlobEmbeddingLoader(blobs.Container), _options.CacheBytes);
            var bytes = await blobs.TryDownloadAsync(S.LatestCheckpoint!) ?? throw new InvalidOperationException($"checkpoint {S.LatestCheckpoint} is missing");
            var (source, loader, name) = (_source, _loader, Name);
            S.Export = await DedicatedThread.Run($"lvmae-export-{Name}", () => RunExporter.Export(name, bytes, step, config, source, loader, blobs, CancellationToken.None));
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "run {Run}: export failed", Name);
            S.Export = new ExportInfo { Step = step, At = DateTimeOffset.UtcNow, Error = e.Message };
        }
        await SaveAsync();
        if (!Running && _probing is not { IsCompleted: false }) DelayDeactivation(TimeSpan.FromSeconds(-1)); // back to idle collection
    }

    // ---- reporting: state, registry, metrics.jsonl, plot -----------------------------------------------------------------

    /// <summary>State writes one after another (a background turn and a call may both want to write).</summary>
    private Task SaveAsync()
    {
        var previous = _saving;
        return _saving = Chained(previous, () => state.WriteStateAsync());
    }

    private static async Task Chained(Task previous, Func<Task> next)
    {
        try { await previous; } catch (Exception) { /* observed by its own caller */ }
        await next();
    }

    private void Metric(JsonObject line) => _metricLines.Add(line.ToJsonString());

    /// <summary>Upserts the registry; appends the buffered metric lines when asked (an append blob takes at most 50,000
    /// appends, so periodic reports append every <see cref="MetricsFlushInterval"/>: 60 h of training = 7,200 appends).</summary>
    private async Task ReportAsync(bool flushMetrics)
    {
        _lastReport = DateTimeOffset.UtcNow;
        if (flushMetrics && _metricLines.Count > 0)
        {
            _lastAppend = DateTimeOffset.UtcNow;
            var text = string.Join("\n", _metricLines) + "\n";
            _metricLines.Clear();
            var previous = _appending;
            _appending = Chained(previous, () => AppendMetricsAsync(text));
            try { await _appending; }
            catch (Exception e) { logger.LogWarning(e, "run {Run}: appending metrics failed", Name); }
        }
        try { await GrainFactory.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Upsert(Summary()); }
        catch (Exception e) { logger.LogWarning(e, "run {Run}: registry update failed", Name); }
    }

    private async Task AppendMetricsAsync(string text)
    {
        await blobs.EnsureContainerAsync();
        var blob = blobs.Container.GetAppendBlobClient(BlobLayout.RunMetrics(Name));
        await blob.CreateIfNotExistsAsync();
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var offset = 0; offset < bytes.Length; offset += 4 << 20) // append blocks are at most 4 MiB
        {
            using var chunk = new MemoryStream(bytes, offset, Math.Min(4 << 20, bytes.Length - offset));
            await blob.AppendBlockAsync(chunk);
        }
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
        metrics["total_steps"] = S.TotalSteps;
        if (_skipped > 0) metrics["skipped_videos"] = _skipped;
        foreach (var p in S.Probes)
            metrics[$"{p.Column}/{p.Features}/{p.Probe}"] = p.Top1 ?? p.Mse ?? double.NaN;
        return new RunSummary
        {
            Name = Name,
            State = S.State.ToString(),
            Step = Math.Max(_lastStep?.Result.Step ?? 0, S.LatestCheckpointStep),
            CreatedAt = S.CreatedAt,
            UpdatedAt = DateTimeOffset.UtcNow,
            Metrics = metrics,
            Message = S.Message,
            LatestCheckpoint = S.LatestCheckpoint,
        };
    }

    /// <summary>Loss and probe accuracy against step (from metrics.jsonl, so resumed runs plot their whole history).</summary>
    private async Task PlotAsync()
    {
        try
        {
            var text = await blobs.TryDownloadAsync(BlobLayout.RunMetrics(Name));
            if (text is null) return;
            var loss = new SortedDictionary<long, double>();
            var probes = new Dictionary<string, List<(long, double)>>(StringComparer.Ordinal);
            foreach (var line in Encoding.UTF8.GetString(text).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                JsonNode? node;
                try { node = JsonNode.Parse(line); } catch (JsonException) { continue; }
                if (node is not JsonObject o || o["step"] is null) continue;
                var step = o["step"]!.GetValue<long>();
                if (o["loss"] is { } l) loss[step] = l.GetValue<double>(); // a resumed run re-logs steps: the last one wins
                else if (o["probe"] is { } p && o["top1"] is { } top1)
                {
                    var key = p.GetValue<string>();
                    if (!probes.TryGetValue(key, out var list)) probes[key] = list = [];
                    list.RemoveAll(x => x.Item1 == step);
                    list.Add((step, top1.GetValue<double>()));
                }
            }
            var png = RunPlotter.Render(Name, loss.Select(kv => (kv.Key, kv.Value)).ToList(), probes);
            await blobs.UploadAsync(BlobLayout.RunPlot(Name, "training"), png, contentType: "image/png");
        }
        catch (Exception e) { logger.LogWarning(e, "run {Run}: plotting failed", Name); }
    }
}
