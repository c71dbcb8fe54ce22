using System.Text.Json;
using LvMae.Contracts;
using LvMae.Grains.Training;
using LvMae.Model.Quantization;
using LvMae.Model.Training;
using LvMae.Pipeline;

namespace LvMae.Grains.Tests;

/// <summary><see cref="RunRecorder"/>: the training run's bookkeeping, event by event, without a silo or storage. Every
/// function returns a new state and observation and leaves its inputs as they were.</summary>
public sealed class TrainingRecorderTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private static readonly TrainingRunConfig Config = new() { Encoder = "test", Steps = 100 };

    private static TrainingRunState Training() => new() { Config = Config, State = TrainingState.Training, TotalSteps = 100, CreatedAt = Now };

    private static StepEvent StepOf(long step, double seconds = 1, double loss = 0.5) =>
        new(new StepResult(step, loss, 1e-3, 64, 48, 64, null, TimeSpan.FromSeconds(seconds)), Epoch: 2, TotalSteps: 100, TokensPerSecond: 123.456);

    private static ProbeScore Score(string column, string features, string probe, double top1, long step = 10) =>
        new() { Column = column, Features = features, Probe = probe, Top1 = top1, Step = step, Train = 8, Test = 4 };

    [Fact]
    public void A_new_run_trains_for_the_steps_its_pre_training_videos_give_on_the_config_s_schedule()
    {
        var config = new TrainingRunConfig { Encoder = "test", Epochs = 2, BatchSize = 4 };
        var data = new List<SplitCount>
        {
            new() { Split = "train", Videos = 10, Tokens = 100, PreTrained = true },
            new() { Split = "test", Videos = 30, Tokens = 300, PreTrained = false },
        };
        var created = RunRecorder.Created(config, data, new RunObservation(), Now);
        Assert.Equal((TrainingState.Training, Now, 0), (created.Run.State, created.Run.CreatedAt, created.Run.Resumes));
        Assert.Equal(RunSettings.TotalSteps(config, 10), created.Run.TotalSteps);   // the held-out 30 do not count
        Assert.NotEqual(RunSettings.TotalSteps(config, 40), created.Run.TotalSteps);
        Assert.Equal(data, created.Run.Data);
        Assert.Same(config, created.Run.Config);
        Assert.Equal(RunSettings.Schedule(config, created.Run.TotalSteps), created.Seen.Schedule);
    }

    [Fact]
    public void A_step_is_seen_and_logged_and_leaves_the_persisted_state_alone()
    {
        var run = Training();
        var seen = new RunObservation();
        var change = RunRecorder.Record(run, seen, StepOf(7, seconds: 2), Now);

        Assert.Same(run, change.Run);                       // nothing to persist
        Assert.Null(seen.LastStep);                         // the input stays as it was
        Assert.Equal(7, change.Seen.LastStep!.Result.Step);
        Assert.False(change.Do.Save || change.Do.SaveFirst || change.Do.Report);
        var line = Assert.Single(change.Do.Lines);
        Assert.Equal(7, (long)line["step"]!);
        Assert.Equal(2, (long)line["epoch"]!);
        Assert.Equal(123.5, (double)line["tokens_per_s"]!);
        Assert.Equal(2000, (double)line["step_ms"]!);
        Assert.Equal(Now.ToString("O"), (string)line["time"]!);

        var progress = RunRecorder.Progress("r", change.Run, exists: true, change.Seen, "silo", (false, null), exporting: false);
        Assert.Equal(7, progress.Step);
        Assert.Equal(0.5, progress.Loss);
        Assert.Equal(2, progress.Epoch);
        Assert.Equal(TimeSpan.FromSeconds(2 * 93), progress.Eta);   // 93 steps left at 2 s each
        Assert.Null(RunRecorder.Progress("r", change.Run, exists: true, seen, "silo", (false, null), false).Eta);
    }

    [Fact]
    public void Skips_are_counted_the_last_twenty_kept_oldest_first_and_each_is_warned_and_logged()
    {
        var seen = new RunObservation();
        var run = Training();
        RunChange? change = null;
        for (var i = 0; i < 25; i++)
        {
            change = RunRecorder.Record(run, seen, new SkipEvent(new SkippedVideo($"v{i}", 3, "corrupt", new InvalidDataException())), Now);
            Assert.Same(run, change.Run);
            seen = change.Seen;
        }
        Assert.Equal(25, seen.Skipped);
        Assert.Equal(Enumerable.Range(5, 20).Select(i => $"v{i}: corrupt"), seen.RecentSkips);
        Assert.Equal("skipped video v24 in epoch 3: corrupt", Assert.Single(change!.Do.Warnings));
        var line = Assert.Single(change.Do.Lines);
        Assert.Equal(("v24", 3L, "corrupt"), ((string)line["skip"]!, (long)line["epoch"]!, (string)line["reason"]!));

        var summary = RunRecorder.Summary("r", run, seen, Now);
        Assert.Equal(25, summary.Metrics["skipped_videos"]);
        Assert.False(RunRecorder.Summary("r", run, new RunObservation(), Now).Metrics.ContainsKey("skipped_videos"));
    }

    [Fact]
    public void Waiting_is_shown_until_training_starts_which_keeps_any_other_message()
    {
        var run = Training();
        var waiting = RunRecorder.Record(run, new RunObservation(), new WaitingEvent("waiting for videos embedded with 'test'"), Now);
        Assert.Equal("waiting for videos embedded with 'test'", waiting.Run.Message);
        Assert.Null(run.Message);
        Assert.Same(RunEffects.None, waiting.Do);   // persisted with the next write

        var schedule = new TrainingSchedule { PeakLr = 1e-3, WarmupSteps = 10, TotalSteps = 100, BatchSize = 16 };
        var started = RunRecorder.Record(waiting.Run, waiting.Seen, new StartedEvent("cpu", 64, 100, 0, schedule), Now);
        Assert.Null(started.Run.Message);
        Assert.Equal("cpu", started.Seen.Device);
        Assert.Same(schedule, RunRecorder.Schedule(started.Run, started.Seen));
        Assert.Equal("waiting for videos embedded with 'test'", waiting.Run.Message);

        var other = Training();
        other.Message = "resumed by hand";
        Assert.Same(other, RunRecorder.Record(other, new RunObservation(), new StartedEvent("cpu", 64, 100, 0, schedule), Now).Run);
        // before the trainer says, the schedule is the config's
        Assert.Equal(RunSettings.Schedule(Config, 100), RunRecorder.Schedule(run, new RunObservation()));
    }

    [Fact]
    public void A_checkpoint_is_written_before_it_is_logged_then_reported_and_probed_or_plotted()
    {
        var run = Training();
        var probed = RunRecorder.Record(run, new RunObservation(), new CheckpointEvent(20, "runs/r/checkpoints/20.ckpt", new FeedPosition(3, 5), Probe: true, Final: false), Now);
        Assert.Equal(("runs/r/checkpoints/20.ckpt", 20L, 3L), (probed.Run.LatestCheckpoint, probed.Run.LatestCheckpointStep, probed.Run.Epoch));
        Assert.Null(run.LatestCheckpoint);
        Assert.True(probed.Do.SaveFirst);
        Assert.True(probed.Do.Report);
        Assert.Equal(new ProbeRequest(20, null, null), probed.Do.Probe);
        Assert.Equal(RunPlot.None, probed.Do.Plot);
        var line = Assert.Single(probed.Do.Lines);
        Assert.Equal(("runs/r/checkpoints/20.ckpt", 20L), ((string)line["checkpoint"]!, (long)line["step"]!));

        var plotted = RunRecorder.Record(probed.Run, probed.Seen, new CheckpointEvent(30, "runs/r/checkpoints/30.ckpt", new FeedPosition(4, 0), Probe: false, Final: false), Now);
        Assert.Null(plotted.Do.Probe);
        Assert.Equal(RunPlot.Background, plotted.Do.Plot);
        Assert.Equal(30, RunRecorder.Progress("r", plotted.Run, true, plotted.Seen, "s", (false, null), false).LatestCheckpointStep);

        var failed = RunRecorder.Record(run, new RunObservation(), new CheckpointFailedEvent(40, "503"), Now);
        Assert.Same(run, failed.Run);
        Assert.False(failed.Do.SaveFirst || failed.Do.Save);
        Assert.Equal("checkpoint of step 40 not uploaded: 503", Assert.Single(failed.Do.Warnings));
        Assert.Equal(("503", 40L), ((string)failed.Do.Lines[0]["checkpoint_error"]!, (long)failed.Do.Lines[0]["step"]!));
    }

    [Fact]
    public void A_codebook_is_kept_in_the_state_and_logged()
    {
        var change = RunRecorder.Record(Training(), new RunObservation(), new CodebookEvent("FSQ [8,5]: 30/40 codes", new CodebookUsage(40, 30, 25.5, 1000), 0.01, 12), Now);
        Assert.Equal("FSQ [8,5]: 30/40 codes", change.Run.Codebook);
        var line = Assert.Single(change.Do.Lines);
        Assert.Equal((40L, 30, 25.5, 0.01, 12), ((long)line["fsq_codebook"]!, (int)line["fsq_codes_used"]!, (double)line["fsq_perplexity"]!, (double)line["fsq_loss"]!, (int)line["fsq_videos"]!));
        Assert.False(change.Do.Save);
    }

    [Fact]
    public void The_end_is_done_or_stopped_at_the_last_checkpoint_and_a_cancelled_run_stays_training()
    {
        var run = Training();
        run.LatestCheckpointStep = 100;
        var done = RunRecorder.Ended(run, new RunObservation(), finished: true, stopRequested: false);
        Assert.Equal((TrainingState.Done, "finished at step 100"), (done.Run.State, done.Run.Message));
        Assert.True(done.Do.Save && done.Do.DropReminder && done.Do.Report);
        Assert.Equal(RunPlot.Now, done.Do.Plot);
        Assert.Equal(TrainingState.Training, run.State);

        run.LatestCheckpointStep = 40;
        var stopped = RunRecorder.Ended(run, new RunObservation(), finished: false, stopRequested: true);
        Assert.Equal((TrainingState.Stopped, "stopped at step 40"), (stopped.Run.State, stopped.Run.Message));
        Assert.True(stopped.Do.Save && stopped.Do.DropReminder && stopped.Do.Report);
        Assert.Equal(RunPlot.None, stopped.Do.Plot);

        var cancelled = RunRecorder.Ended(run, new RunObservation(), finished: false, stopRequested: false);
        Assert.Same(run, cancelled.Run);    // the next activation resumes
        Assert.False(cancelled.Do.Save || cancelled.Do.DropReminder);
        Assert.True(cancelled.Do.Report);
    }

    [Fact]
    public void A_failure_is_recorded_with_its_message_cut_at_500_characters_and_only_a_stopped_or_failed_run_resumes()
    {
        var failed = RunRecorder.Failed(Training(), new RunObservation(), new string('x', 600));
        Assert.Equal(TrainingState.Failed, failed.Run.State);
        Assert.Equal(500, failed.Run.Message!.Length);
        Assert.True(failed.Do.Save && failed.Do.DropReminder && failed.Do.Report);
        Assert.Equal("short", RunRecorder.Failed(Training(), new RunObservation(), "short").Run.Message);

        var resumed = RunRecorder.Resumed(failed.Run, failed.Seen)!;
        Assert.Equal((TrainingState.Training, (string?)null), (resumed.Run.State, resumed.Run.Message));
        Assert.True(resumed.Do.Save && resumed.Do.Report);
        Assert.Equal(TrainingState.Failed, failed.Run.State);
        var stopped = Training();
        stopped.State = TrainingState.Stopped;
        Assert.Equal(TrainingState.Training, RunRecorder.Resumed(stopped, new RunObservation())!.Run.State);
        foreach (var state in new[] { TrainingState.Training, TrainingState.Done, TrainingState.None })
        {
            var run = Training();
            run.State = state;
            Assert.Null(RunRecorder.Resumed(run, new RunObservation()));
        }
    }

    [Fact]
    public void A_start_resumes_from_the_good_checkpoint_logs_the_rejected_ones_and_refuses_when_none_is_left()
    {
        var run = Training();
        run.LatestCheckpoint = "runs/r/checkpoints/30.ckpt";
        run.LatestCheckpointStep = 30;
        var rejected = new[] { new RejectedCheckpoint("runs/r/checkpoints/30.ckpt", "sha256 mismatch") };
        var resume = new ResumePoint([1, 2, 3], 20, new FeedPosition(2, 7), "runs/r/checkpoints/20.ckpt");

        var resumed = RunRecorder.Starting("r", run, new RunObservation(), resume, rejected);
        Assert.Equal((1, "runs/r/checkpoints/20.ckpt", 20L, 2L), (resumed.Run.Resumes, resumed.Run.LatestCheckpoint, resumed.Run.LatestCheckpointStep, resumed.Run.Epoch));
        Assert.True(resumed.Do.Save);
        Assert.Null(resumed.Do.Error);
        Assert.Equal("checkpoint runs/r/checkpoints/30.ckpt skipped: sha256 mismatch", Assert.Single(resumed.Do.Warnings));
        Assert.Equal(("runs/r/checkpoints/30.ckpt", "sha256 mismatch"), ((string)resumed.Do.Lines[0]["checkpoint_rejected"]!, (string)resumed.Do.Lines[0]["reason"]!));
        Assert.Equal(0, run.Resumes);

        var none = RunRecorder.Starting("r", run, new RunObservation(), null, rejected);
        Assert.Same(run, none.Run);
        Assert.Single(none.Do.Lines);   // the rejected one is logged before the start fails
        Assert.Equal("no usable checkpoint of run 'r' is left (the state recorded runs/r/checkpoints/30.ckpt)", none.Do.Error);

        var fresh = RunRecorder.Starting("r", Training(), new RunObservation(), null, []);
        Assert.False(fresh.Do.Save);
        Assert.Null(fresh.Do.Error);
        Assert.Empty(fresh.Do.Lines);
    }

    [Fact]
    public void Probe_scores_replace_the_latest_of_their_kind_and_are_logged_reported_and_plotted()
    {
        var run = Training();
        run.Probes = [Score("activity", ProbeScore.LvMae, "linear", 0.4, step: 10), Score("activity", ProbeScore.Raw, "linear", 0.5, step: 10)];
        var change = RunRecorder.Probed(run, new RunObservation(), [Score("activity", ProbeScore.LvMae, "linear", 0.7, step: 20)]);

        Assert.Equal(2, change.Run.Probes.Count);
        Assert.Equal(0.7, change.Run.Probes.Single(p => p.Features == ProbeScore.LvMae).Top1);
        Assert.Equal(0.5, change.Run.Probes.Single(p => p.Features == ProbeScore.Raw).Top1);
        Assert.Equal(0.4, run.Probes.Single(p => p.Features == ProbeScore.LvMae).Top1);   // the input's list is not the copy's
        var line = Assert.Single(change.Do.Lines);
        Assert.Equal(("activity/lv-mae/linear", 20L, 0.7), ((string)line["probe"]!, (long)line["step"]!, (double)line["top1"]!));
        Assert.True(change.Do.Save && change.Do.Report);
        Assert.Equal(RunPlot.Now, change.Do.Plot);
        Assert.Equal(0.7, RunRecorder.Summary("r", change.Run, change.Seen, Now).Metrics["activity/lv-mae/linear"]);

        var failed = RunRecorder.ProbeFailed(run, new RunObservation(), 20, "no labels");
        Assert.Same(run, failed.Run);
        Assert.Equal(("no labels", 20L), ((string)failed.Do.Lines[0]["probe_error"]!, (long)failed.Do.Lines[0]["step"]!));
        Assert.False(failed.Do.Save);

        var export = new ExportInfo { Step = 20, At = Now, Error = "gone" };
        var exported = RunRecorder.Exported(run, new RunObservation(), export);
        Assert.Same(export, exported.Run.Export);
        Assert.Null(run.Export);
        Assert.True(exported.Do.Save);
    }

    [Fact]
    public void The_summary_and_progress_read_the_state_and_what_the_activation_saw()
    {
        var run = Training();
        run.LatestCheckpointStep = 30;
        run.Message = "m";
        var seen = RunRecorder.Record(run, new RunObservation(), StepOf(12, loss: 0.25), Now).Seen;

        var summary = RunRecorder.Summary("r", run, seen, Now);
        Assert.Equal(("r", "Training", 30L, "m", Now), (summary.Name, summary.State, summary.Step, summary.Message, summary.UpdatedAt));
        Assert.Equal(0.25, summary.Metrics["loss"]);
        Assert.Equal(123.5, summary.Metrics["tokens_per_s"]);
        Assert.Equal(100, summary.Metrics["total_steps"]);
        Assert.Equal(RunSettings.Schedule(Config, 100), summary.Schedule);

        var activity = new ProbeActivity { Column = "a", Features = "f", Probe = "p", Done = 1, Total = 3 };
        Assert.Equal(activity, RunRecorder.Progress("r", run, true, seen, "s", (true, activity), exporting: true).ProbeActivity);
        Assert.Null(RunRecorder.Progress("r", run, true, seen, "s", (false, activity), exporting: false).ProbeActivity);
        Assert.True(RunRecorder.Progress("r", run, true, seen, "s", (true, activity), exporting: true).Exporting);
        Assert.Equal(TrainingState.None, RunRecorder.Progress("r", run, exists: false, seen, "s", (false, null), false).State);
        run.State = TrainingState.Done;
        Assert.Null(RunRecorder.Progress("r", run, true, seen, "s", (false, null), false).Eta);   // no ETA once it is over
    }

    [Fact]
    public void State_written_before_the_recorder_still_loads_and_a_copy_shares_no_list()
    {
        // As the grain's state blob held it before this change (GrainStateJson: web names, enums as strings).
        const string stored = """
            {"config":{"encoder":"test","steps":100},"state":"Stopped","createdAt":"2026-12-06T12:00:00+00:00","totalSteps":100,
             "latestCheckpoint":"runs/r/checkpoints/40.ckpt","latestCheckpointStep":40,"epoch":3,"message":"stopped at step 40","resumes":2,
             "probes":[{"step":40,"column":"activity","features":"lv-mae","probe":"linear","top1":0.5,"train":8,"test":4,"seeds":3}],
             "export":null,"codebook":"FSQ","data":[{"split":"train","videos":8,"tokens":80,"preTrained":true}]}
            """;
        var run = JsonSerializer.Deserialize<TrainingRunState>(stored, GrainStateJson.Options)!;
        Assert.Equal((TrainingState.Stopped, 40L, 3L, 2, "FSQ"), (run.State, run.LatestCheckpointStep, run.Epoch, run.Resumes, run.Codebook));
        Assert.Equal(0.5, Assert.Single(run.Probes).Top1);
        Assert.Equal(8, Assert.Single(run.Data).Videos);
        Assert.Equal("test", run.Config!.Encoder);

        var copy = run.Copy();
        copy.Probes.Clear();
        copy.Data.Clear();
        Assert.Single(run.Probes);
        Assert.Single(run.Data);
        Assert.Equal(JsonSerializer.Serialize(run, GrainStateJson.Options), JsonSerializer.Serialize(run.Copy(), GrainStateJson.Options));
        // written again, the state has the same fields (old code reads what the new writes)
        var names = JsonDocument.Parse(JsonSerializer.Serialize(RunRecorder.Resumed(run, new RunObservation())!.Run, GrainStateJson.Options))
            .RootElement.EnumerateObject().Select(p => p.Name).Order().ToList();
        Assert.Equal(JsonDocument.Parse(stored).RootElement.EnumerateObject().Select(p => p.Name).Order().ToList(), names);
    }
}
