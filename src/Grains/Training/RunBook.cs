using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LvMae.Contracts;
using LvMae.Runs;
using LvMae.Storage;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace LvMae.Grains.Training;

/// <summary>
/// A run's records and how they are kept, for its grain: the persisted state (<see cref="RunStateWriter"/>: retried,
/// one after another), metrics.jsonl (<see cref="RunMetricsLog"/>), the registry's <see cref="RunSummary"/>, the plot
/// (<see cref="RunPlotter"/>) and the resume reminder (<see cref="RunReminder"/>). <see cref="ApplyAsync"/> carries out a
/// <see cref="RunRecorder"/> change. Used from the grain's turns.
/// </summary>
public sealed class RunBook
{
    private static readonly TimeSpan MetricsFlushInterval = TimeSpan.FromSeconds(30);
    private static readonly JsonSerializerOptions ConfigJson = new() { WriteIndented = true };
    private readonly IPersistentState<TrainingRunState> _state;
    private readonly RunActivity _activity;
    private readonly BlobStore _blobs;
    private readonly IGrainFactory _grains;
    private readonly TimeSpan _reportInterval;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly RunStateWriter _writer;
    private DateTimeOffset _lastReport = DateTimeOffset.MinValue;

    public RunBook(IPersistentState<TrainingRunState> state, RunActivity activity, BlobStore blobs, IGrainFactory grains, IGrainBase grain,
        TrainingOptions options, ILogger logger, string name)
    {
        (_state, _activity, _blobs, _grains, _reportInterval, _logger, _name) = (state, activity, blobs, grains, options.ReportInterval, logger, name);
        _writer = new RunStateWriter(() => state.WriteStateAsync(), options.StateWriteAttempts, options.StateWriteRetryDelay,
            (e, attempt, delay) => logger.LogWarning("run {Run}: state write {Attempt} failed ({Error}); retrying in {Delay}", name, attempt, e.Message, delay));
        Metrics = new RunMetricsLog(blobs, name);
        Reminder = new RunReminder(grain, name, options.ResumeReminderPeriod, logger);
    }

    public RunMetricsLog Metrics { get; }
    public RunReminder Reminder { get; }
    /// <summary>The persisted state: replaced by each change, and by <see cref="CreateAsync"/> and <see cref="DeleteAsync"/>.</summary>
    public TrainingRunState Run => _state.State;
    public bool Exists => _state.RecordExists;
    public bool ReportDue => DateTimeOffset.UtcNow - _lastReport > _reportInterval;

    /// <summary>A new run: its config.json, then its state, then its registry entry.</summary>
    public async Task CreateAsync(TrainingRunState run)
    {
        _state.State = run;
        await _blobs.UploadAsync(BlobLayout.RunConfig(_name), Encoding.UTF8.GetBytes(JsonSerializer.Serialize(run.Config!, ConfigJson)), contentType: "application/json");
        await _writer.SaveAsync();
        await ReportAsync(flushMetrics: true);
    }

    /// <summary>Takes <paramref name="change"/>'s state and observation (at once, in the turn that computed them) and does its
    /// effects in <see cref="RunEffects"/>' order; a probe it asks for goes to <paramref name="probe"/>.</summary>
    public async Task ApplyAsync(RunChange change, Action<ProbeRequest> probe)
    {
        (_state.State, _activity.Seen) = (change.Run, change.Seen);
        var effects = change.Do;
        if (effects.SaveFirst)
            try { await _writer.SaveAsync(); }
            catch (Exception failure) when (failure is not InconsistentStateException) { throw new StateUnavailableException(failure); }
        foreach (var warning in effects.Warnings) _logger.LogWarning("run {Run}: {Warning}", _name, warning);
        foreach (var line in effects.Lines) Metrics.Add(line);
        if (effects.Save) await _writer.SaveAsync();
        if (effects.DropReminder) await Reminder.DropAsync();
        if (effects.Report) await ReportAsync(flushMetrics: true);
        if (effects.Probe is { } request) probe(request);
        if (effects.Plot == RunPlot.Background) _activity.Plotting = PlotAsync();
        else if (effects.Plot == RunPlot.Now) await PlotAsync();
        if (effects.Error is { } error) throw new InvalidOperationException(error);
    }

    /// <summary>Storage holds another writer's state: read it, so the run reports what storage holds, not our change.</summary>
    public async Task ReloadAsync()
    {
        try { await _state.ReadStateAsync(); }
        catch (Exception reload) { _logger.LogWarning("run {Run}: reloading its state failed: {Message}", _name, reload.Message); }
    }

    /// <summary>The periodic report while training: the reminder (if not yet registered), the registry, and metrics.jsonl
    /// when its last flush is <see cref="MetricsFlushInterval"/> old.</summary>
    public async Task ReportWhileTrainingAsync()
    {
        await Reminder.KeepAsync();
        await ReportAsync(flushMetrics: DateTimeOffset.UtcNow - Metrics.LastFlush > MetricsFlushInterval);
    }

    /// <summary>Upserts the registry; appends the buffered metric lines when asked.</summary>
    public async Task ReportAsync(bool flushMetrics)
    {
        _lastReport = DateTimeOffset.UtcNow;
        if (flushMetrics)
            try { await Metrics.FlushAsync(); }
            catch (Exception e) { _logger.LogWarning(e, "run {Run}: appending metrics failed", _name); }
        try { await _grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Upsert(RunRecorder.Summary(_name, Run, _activity.Seen, DateTimeOffset.UtcNow)); }
        catch (Exception e) { _logger.LogWarning(e, "run {Run}: registry update failed", _name); }
    }

    /// <summary>Loss and probe accuracy against step (from metrics.jsonl, so resumed runs plot their whole history).</summary>
    public async Task PlotAsync()
    {
        try
        {
            var (loss, probes) = (await Metrics.ReadAsync()).Series();
            if (loss.Count == 0 && probes.Count == 0) return;
            await _blobs.UploadAsync(BlobLayout.RunPlot(_name, RunPlotter.TrainingPlot), RunPlotter.Render(_name, loss, probes), contentType: "image/png");
        }
        catch (Exception e) { _logger.LogWarning(e, "run {Run}: plotting failed", _name); }
    }

    /// <summary>Every blob under runs/&lt;run&gt;/ deleted, the state cleared, the reminder and the registry entry gone.</summary>
    public async Task DeleteAsync()
    {
        await foreach (var blob in _blobs.ListAsync(BlobLayout.RunPrefix(_name))) await _blobs.DeleteIfExistsAsync(blob.Name);
        if (_state.RecordExists) await _state.ClearStateAsync();
        _state.State = new TrainingRunState();
        await Reminder.DropAsync();
        await _grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Remove(_name);
    }
}

/// <summary>A state write failed after every retry.</summary>
public sealed class StateUnavailableException(Exception inner) : Exception("the run's state could not be saved", inner);
