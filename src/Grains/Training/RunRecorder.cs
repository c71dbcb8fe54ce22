using System.Text.Json.Nodes;
using LvMae.Contracts;
using LvMae.Pipeline;

namespace LvMae.Grains.Training;

/// <summary>What an activation saw of its run since it activated (not persisted; never changed in place): the device and
/// schedule the trainer reported, the last step and the step time for the ETA, the skipped videos.</summary>
public sealed record RunObservation
{
    public const int RecentSkipCount = 20;

    public string? Device { get; init; }
    public TrainingSchedule? Schedule { get; init; }
    public StepEvent? LastStep { get; init; }
    public StepTimeAverage StepTime { get; init; } = new();
    public long Skipped { get; init; }
    /// <summary>The last <see cref="RecentSkipCount"/> skips, "video: reason", oldest first.</summary>
    public IReadOnlyList<string> RecentSkips { get; init; } = [];
}

/// <summary>When to draw the plot after a change.</summary>
public enum RunPlot { None, Background, Now }

/// <summary>What the grain does after a change, in this order: <see cref="SaveFirst"/>, log <see cref="Warnings"/>, append
/// <see cref="Lines"/> to metrics.jsonl, <see cref="Save"/>, <see cref="DropReminder"/>, <see cref="Report"/> (registry upsert
/// and metrics flush), request <see cref="Probe"/>, <see cref="Plot"/>, fail with <see cref="Error"/>.</summary>
public sealed record RunEffects
{
    public static readonly RunEffects None = new();

    /// <summary>Write the state before anything names what it records (a checkpoint); storage refusing every retry pauses the run.</summary>
    public bool SaveFirst { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = [];
    public IReadOnlyList<JsonObject> Lines { get; init; } = [];
    public bool Save { get; init; }
    public bool DropReminder { get; init; }
    public bool Report { get; init; }
    public ProbeRequest? Probe { get; init; }
    public RunPlot Plot { get; init; }
    /// <summary>After the rest: the start this change belongs to cannot go on (thrown as an <see cref="InvalidOperationException"/>).</summary>
    public string? Error { get; init; }
}

/// <summary>A run's state after an event, what the activation now knows, and what to do about it.</summary>
public sealed record RunChange(TrainingRunState Run, RunObservation Seen, RunEffects Do);

/// <summary>
/// The run's bookkeeping as pure functions (no grain, no storage, no clock of its own): each takes the persisted state and the
/// activation's observation, and returns the new ones (copies; the inputs stay as they are) and the <see cref="RunEffects"/>
/// the grain carries out. Events come from the <see cref="TrainingWorker"/>; the outcome, failures, resumes, probes and
/// exports from the grain. The progress and the registry summary are read from the same two values.
/// </summary>
public static class RunRecorder
{
    /// <summary>A new run of <paramref name="config"/> over the corpus <paramref name="data"/> (<see cref="RunSettings.Census"/>):
    /// Training, its steps resolved (<see cref="RunSettings.TotalSteps"/> over the videos it pre-trains on) and its schedule.</summary>
    public static RunChange Created(TrainingRunConfig config, IReadOnlyList<SplitCount> data, RunObservation seen, DateTimeOffset now)
    {
        var total = RunSettings.TotalSteps(config, data.Where(d => d.PreTrained).Sum(d => d.Videos));
        return new(new TrainingRunState { Config = config, State = TrainingState.Training, CreatedAt = now, TotalSteps = total, Data = data.ToList() },
            seen with { Schedule = RunSettings.Schedule(config, total) }, RunEffects.None);
    }

    /// <summary>Records one event of the training thread.</summary>
    public static RunChange Record(TrainingRunState run, RunObservation seen, TrainingEvent e, DateTimeOffset now)
    {
        switch (e)
        {
            case WaitingEvent waiting: // shown by the progress; persisted with the next state write
                return new(With(run, r => r.Message = waiting.Message), seen, RunEffects.None);
            case CodebookEvent codebook:
                return new(With(run, r => r.Codebook = codebook.Summary), seen, new RunEffects
                {
                    Lines = [new JsonObject
                    {
                        ["fsq_codebook"] = codebook.Usage.CodebookSize, ["fsq_codes_used"] = codebook.Usage.Used,
                        ["fsq_perplexity"] = codebook.Usage.Perplexity, ["fsq_loss"] = codebook.FinalLoss, ["fsq_videos"] = codebook.Videos,
                    }],
                });
            case StartedEvent started:
                var waited = run.Message?.StartsWith("waiting", StringComparison.Ordinal) == true;
                return new(waited ? With(run, r => r.Message = null) : run, seen with { Device = started.Device, Schedule = started.Schedule }, RunEffects.None);
            case StepEvent step:
                return new(run, seen with { LastStep = step, StepTime = seen.StepTime.With(step.Result.Elapsed) },
                    new RunEffects { Lines = [RunMetricsLog.StepLine(step, now)] });
            case SkipEvent { Skip: var skip }:
                var recent = seen.RecentSkips.Append($"{skip.VideoId}: {skip.Reason}").TakeLast(RunObservation.RecentSkipCount).ToList();
                return new(run, seen with { Skipped = seen.Skipped + 1, RecentSkips = recent }, new RunEffects
                {
                    Warnings = [$"skipped video {skip.VideoId} in epoch {skip.Epoch}: {skip.Reason}"],
                    Lines = [new JsonObject { ["skip"] = skip.VideoId, ["epoch"] = skip.Epoch, ["reason"] = skip.Reason }],
                });
            case CheckpointFailedEvent failed:
                return new(run, seen, new RunEffects
                {
                    Warnings = [$"checkpoint of step {failed.Step} not uploaded: {failed.Error}"],
                    Lines = [new JsonObject { ["checkpoint_error"] = failed.Error, ["step"] = failed.Step }],
                });
            case CheckpointEvent checkpoint:
                return new(With(run, r => (r.LatestCheckpoint, r.LatestCheckpointStep, r.Epoch) = (checkpoint.Blob, checkpoint.Step, checkpoint.Position.Epoch)), seen,
                    new RunEffects
                    {
                        SaveFirst = true,
                        Lines = [new JsonObject { ["checkpoint"] = checkpoint.Blob, ["step"] = checkpoint.Step }],
                        Report = true,
                        Probe = checkpoint.Probe ? new ProbeRequest(checkpoint.Step, null, null) : null,
                        Plot = checkpoint.Probe ? RunPlot.None : RunPlot.Background,
                    });
            default:
                throw new ArgumentException($"unknown training event {e.GetType().Name}", nameof(e));
        }
    }

    /// <summary>The training thread ended: <paramref name="finished"/> (its steps done) or stopped on request; neither means
    /// cancelled (deactivation, delete, storage gone): the state stays Training and the next activation resumes.</summary>
    public static RunChange Ended(TrainingRunState run, RunObservation seen, bool finished, bool stopRequested)
    {
        if (!finished && !stopRequested) return new(run, seen, new RunEffects { Report = true });
        var next = With(run, r => (r.State, r.Message) = finished
            ? (TrainingState.Done, $"finished at step {r.LatestCheckpointStep}")
            : (TrainingState.Stopped, $"stopped at step {r.LatestCheckpointStep}"));
        return new(next, seen, new RunEffects { Save = true, DropReminder = true, Report = true, Plot = finished ? RunPlot.Now : RunPlot.None });
    }

    /// <summary>The run's training failed (not its storage): Failed, with the message (at most 500 characters).</summary>
    public static RunChange Failed(TrainingRunState run, RunObservation seen, string message) =>
        new(With(run, r => (r.State, r.Message) = (TrainingState.Failed, message.Length > 500 ? message[..500] : message)), seen,
            new RunEffects { Save = true, DropReminder = true, Report = true });

    /// <summary>The user's resume: a Stopped or Failed run trains again; any other run is left as it is (null).</summary>
    public static RunChange? Resumed(TrainingRunState run, RunObservation seen) =>
        run.State is TrainingState.Stopped or TrainingState.Failed
            ? new(With(run, r => (r.State, r.Message) = (TrainingState.Training, null)), seen, new RunEffects { Save = true, Report = true })
            : null;

    /// <summary>An activation starts training: from <paramref name="resume"/> (the newest checkpoint that verified, the
    /// <paramref name="rejected"/> newer ones logged), or from step 0 when the run has none. A run whose state records a
    /// checkpoint but has none left that verifies cannot go on (<see cref="RunEffects.Error"/>).</summary>
    public static RunChange Starting(string name, TrainingRunState run, RunObservation seen, ResumePoint? resume, IReadOnlyList<RejectedCheckpoint> rejected)
    {
        var effects = new RunEffects
        {
            Warnings = rejected.Select(r => $"checkpoint {r.Blob} skipped: {r.Reason}").ToList(),
            Lines = rejected.Select(r => new JsonObject { ["checkpoint_rejected"] = r.Blob, ["reason"] = r.Reason }).ToList(),
        };
        if (resume is not null)
            return new(With(run, r =>
            {
                r.Resumes++;
                (r.LatestCheckpoint, r.LatestCheckpointStep, r.Epoch) = (resume.Blob, resume.Step, resume.Position.Epoch);
            }), seen, effects with { Save = true });
        return new(run, seen, run.LatestCheckpoint is null ? effects
            : effects with { Error = $"no usable checkpoint of run '{name}' is left (the state recorded {run.LatestCheckpoint})" });
    }

    /// <summary>A probe's scores: each replaces the latest of its (column, features, probe) and is logged.</summary>
    public static RunChange Probed(TrainingRunState run, RunObservation seen, IReadOnlyList<ProbeScore> scores) =>
        new(With(run, r =>
        {
            foreach (var s in scores)
            {
                r.Probes.RemoveAll(p => p.Column == s.Column && p.Features == s.Features && p.Probe == s.Probe);
                r.Probes.Add(s);
            }
        }), seen, new RunEffects { Lines = scores.Select(RunMetricsLog.ProbeLine).ToList(), Save = true, Report = true, Plot = RunPlot.Now });

    /// <summary>A probe failed: logged in metrics.jsonl (the run goes on).</summary>
    public static RunChange ProbeFailed(TrainingRunState run, RunObservation seen, long step, string error) =>
        new(run, seen, new RunEffects { Lines = [new JsonObject { ["probe_error"] = error, ["step"] = step }] });

    /// <summary>An export ended (written, or its error).</summary>
    public static RunChange Exported(TrainingRunState run, RunObservation seen, ExportInfo export) =>
        new(With(run, r => r.Export = export), seen, new RunEffects { Save = true });

    /// <summary>The step the run is at: the last one seen, or its latest checkpoint's.</summary>
    public static long Step(TrainingRunState run, RunObservation seen) => Math.Max(seen.LastStep?.Result.Step ?? 0, run.LatestCheckpointStep);

    /// <summary>The effective schedule: the trainer's when it reported one, else the config's.</summary>
    public static TrainingSchedule? Schedule(TrainingRunState run, RunObservation seen) =>
        seen.Schedule ?? (run.Config is { } config && run.TotalSteps > 0 ? RunSettings.Schedule(config, run.TotalSteps) : null);

    /// <summary>The run as the registry lists it.</summary>
    public static RunSummary Summary(string name, TrainingRunState run, RunObservation seen, DateTimeOffset now)
    {
        var metrics = new Dictionary<string, double>();
        if (seen.LastStep is { } last)
        {
            metrics["loss"] = last.Result.Loss;
            metrics["lr"] = last.Result.LearningRate;
            metrics["tokens_per_s"] = Math.Round(last.TokensPerSecond, 1);
        }
        metrics["total_steps"] = run.TotalSteps;
        if (seen.Skipped > 0) metrics["skipped_videos"] = seen.Skipped;
        foreach (var p in run.Probes)
            metrics[$"{p.Column}/{p.Features}/{p.Probe}"] = p.Top1 ?? p.Mse ?? double.NaN;
        return new RunSummary
        {
            Name = name, State = run.State.ToString(), Step = Step(run, seen), CreatedAt = run.CreatedAt, UpdatedAt = now, Metrics = metrics,
            Message = run.Message, LatestCheckpoint = run.LatestCheckpoint, Config = run.Config, Schedule = Schedule(run, seen),
        };
    }

    /// <summary>The run as <c>GetProgress</c> answers: <paramref name="exists"/> says whether storage holds a record of it;
    /// <paramref name="probing"/> is the running probe's activity (null: none runs).</summary>
    public static TrainingProgress Progress(string name, TrainingRunState run, bool exists, RunObservation seen, string silo,
        (bool Busy, ProbeActivity? Activity) probing, bool exporting)
    {
        var last = seen.LastStep;
        return new TrainingProgress
        {
            Run = name,
            State = exists ? run.State : TrainingState.None,
            Step = Step(run, seen),
            TotalSteps = run.TotalSteps,
            Epoch = last?.Epoch ?? run.Epoch,
            Loss = last?.Result.Loss,
            LearningRate = last?.Result.LearningRate,
            TokensPerSecond = last?.TokensPerSecond,
            Eta = last is not null && run.State == TrainingState.Training ? seen.StepTime.Eta(run.TotalSteps - last.Result.Step) : null,
            LatestCheckpoint = run.LatestCheckpoint,
            LatestCheckpointStep = run.LatestCheckpointStep,
            Silo = silo,
            Device = seen.Device,
            SkippedVideos = seen.Skipped,
            RecentSkips = seen.RecentSkips.ToList(),
            Message = run.Message,
            Probes = run.Probes.ToList(),
            Probing = probing.Busy,
            ProbeActivity = probing.Busy ? probing.Activity : null,
            Config = run.Config,
            Resumes = run.Resumes,
            Export = run.Export,
            Exporting = exporting,
            Codebook = run.Codebook,
            Schedule = Schedule(run, seen),
            Data = run.Data.ToList(),
        };
    }

    private static TrainingRunState With(TrainingRunState run, Action<TrainingRunState> change)
    {
        var copy = run.Copy();
        change(copy);
        return copy;
    }
}
