using LvMae.Contracts;
using LvMae.Grains.Training;
using LvMae.Runs;
using LvMae.Pipeline;
using Orleans.Storage;

namespace LvMae.Grains.Tests;

/// <summary>The small parts the training run grain orchestrates, each on its own (no silo, no storage).</summary>
public sealed class TrainingPartsTests
{
    // ---- RunProber progress ---------------------------------------------------------------------------------------------

    [Fact]
    public void A_probe_reports_each_fit_before_it_starts_counting_up_to_its_total()
    {
        const int dim = 8;
        var config = new TrainingRunConfig { Encoder = "enc", Preset = "tiny", MaxTokens = 32, Device = "cpu", ProbeSeeds = 1, ProbeEpochs = 2 };
        using var trainer = new LvMae.Model.Training.Trainer(RunSettings.TrainerOptions(config, dim, 1), "cpu");
        var checkpoint = trainer.SaveCheckpoint();
        var rng = new Random(3);
        var videos = Enumerable.Range(0, 12).Select(v => new LabelledVideo($"v{v}", Enumerable.Range(0, 6 * dim).Select(_ => (float)rng.NextDouble()).ToArray(), dim,
            new Dictionary<string, string> { ["cls"] = v % 2 == 0 ? "a" : "b", ["split"] = v % 3 == 0 ? "test" : "train" })).ToList();
        var fits = new List<ProbeActivity>();

        var scores = new RunProber(config, new ProbeBaselineCache()).Run(checkpoint, 0, videos, "cls", "linear", fits.Add);

        // linear: majority, LV-MAE linear, its step-0 twin, raw linear: 4 fits, one score each, announced 0..3 of 4.
        Assert.Equal(4, scores.Count);
        Assert.Equal([0, 1, 2, 3], fits.Select(f => f.Done));
        Assert.All(fits, f => Assert.Equal(4, f.Total));
        Assert.Equal([ProbeScore.Majority, ProbeScore.LvMae, ProbeScore.Untrained, ProbeScore.Raw], fits.Select(f => f.Features));
        Assert.Equal("probe 1/4 of step 0: cls, lv-mae linear", fits[1].ToString());
    }

    // ---- RunSettings.TrainingSource --------------------------------------------------------------------------------------

    [Fact]
    public async Task A_run_pre_trains_on_the_train_split_unless_it_trains_on_held_out_videos_too()
    {
        EmbeddedVideoDescriptor Video(string id, string split) => new(id, "enc", 4, 8, new Dictionary<string, string> { ["activity"] = "A", ["split"] = split });
        var corpus = new InMemoryEmbeddedVideoSource([Video("a", "train"), Video("b", "test"), Video("c", "val"), Video("d", "train")]);
        async Task<string[]> Ids(TrainingRunConfig config)
        {
            var ids = new List<string>();
            await foreach (var v in RunSettings.TrainingSource(config, corpus).ListAsync("enc")) ids.Add(v.VideoId);
            return [.. ids.Order()];
        }
        Assert.Equal(["a", "d"], await Ids(new TrainingRunConfig { Encoder = "enc" }));
        Assert.Equal(["a", "b", "c", "d"], await Ids(new TrainingRunConfig { Encoder = "enc", TrainOnHeldOut = true }));
    }

    [Fact]
    public async Task Unlabelled_and_pretrain_split_videos_pre_train_the_model_and_the_census_counts_every_split()
    {
        EmbeddedVideoDescriptor Video(string id, int segments, params (string Key, string Value)[] labels) =>
            new(id, "enc", segments, 8, labels.ToDictionary(l => l.Key, l => l.Value));
        var videos = new[]
        {
            Video("a", 10, ("recipe", "r1"), ("split", "train")), Video("b", 20, ("split", "pretrain")), Video("c", 30, ("split", "Unlabelled")),
            Video("d", 40), Video("e", 50, ("recipe", "r2"), ("split", "val")), Video("f", 60, ("recipe", "r1"), ("split", "test")),
        };
        var ids = new List<string>();
        await foreach (var v in RunSettings.TrainingSource(new TrainingRunConfig { Encoder = "enc" }, new InMemoryEmbeddedVideoSource(videos)).ListAsync("enc")) ids.Add(v.VideoId);
        Assert.Equal(["a", "b", "c", "d"], ids.Order());

        var census = RunSettings.Census(new TrainingRunConfig { Encoder = "enc" }, videos);
        Assert.Equal(["train", "pretrain", "val", "test"], census.Select(c => c.Split));
        Assert.Equal([1L, 3, 1, 1], census.Select(c => c.Videos));
        Assert.Equal([10L, 90, 50, 60], census.Select(c => c.Tokens));
        Assert.Equal([true, true, false, false], census.Select(c => c.PreTrained));
        Assert.StartsWith("pre-trains on 4 videos (100 tokens), holds out 2: train 1 videos / 10 tokens, pretrain 3 videos / 90 tokens, val 1 videos / 50 tokens held out",
            SplitCount.Describe(census));
        Assert.All(RunSettings.Census(new TrainingRunConfig { Encoder = "enc", TrainOnHeldOut = true }, videos), c => Assert.True(c.PreTrained));
    }

    // ---- RunStateWriter --------------------------------------------------------------------------------------------------

    [Fact]
    public async Task State_writer_retries_a_failed_write_with_backoff_and_then_succeeds()
    {
        var calls = 0;
        var retries = new List<TimeSpan>();
        var writer = new RunStateWriter(() => ++calls <= 2 ? Task.FromException(new IOException("blip")) : Task.CompletedTask,
            attempts: 4, TimeSpan.FromMilliseconds(10), (_, _, delay) => retries.Add(delay));
        await writer.SaveAsync();
        Assert.Equal(3, calls);
        Assert.Equal([TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20)], retries);
    }

    [Fact]
    public async Task State_writer_gives_up_after_its_attempts_and_never_retries_a_conflict()
    {
        var calls = 0;
        var failing = new RunStateWriter(() => { calls++; return Task.FromException(new IOException("down")); }, attempts: 3, TimeSpan.FromMilliseconds(1));
        await Assert.ThrowsAsync<IOException>(failing.SaveAsync);
        Assert.Equal(3, calls);

        calls = 0;
        var conflicting = new RunStateWriter(() => { calls++; return Task.FromException(new InconsistentStateException("etag")); }, attempts: 3, TimeSpan.FromMilliseconds(1));
        await Assert.ThrowsAsync<InconsistentStateException>(conflicting.SaveAsync);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task State_writes_run_one_after_another_in_call_order()
    {
        var order = new List<int>();
        var gate = new TaskCompletionSource();
        var next = 0;
        var writer = new RunStateWriter(async () =>
        {
            var me = next++;
            if (me == 0) await gate.Task;
            order.Add(me);
        }, attempts: 1, TimeSpan.Zero);
        var first = writer.SaveAsync();
        var second = writer.SaveAsync();
        Assert.False(second.IsCompleted);
        gate.SetResult();
        await Task.WhenAll(first, second);
        Assert.Equal([0, 1], order);
    }

    // ---- ProbeQueue ------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Probe_queue_runs_one_at_a_time_and_the_latest_waiting_request_wins()
    {
        var started = new List<long>();
        var gates = new Dictionary<long, TaskCompletionSource>();
        var queue = new ProbeQueue(r =>
        {
            started.Add(r.Step);
            return gates.TryGetValue(r.Step, out var g) ? g.Task : Task.CompletedTask;
        });
        gates[10] = new TaskCompletionSource();
        queue.Request(new ProbeRequest(10, null, null));
        queue.Request(new ProbeRequest(20, null, null));
        queue.Request(new ProbeRequest(30, "cls", "linear")); // replaces 20 while 10 runs
        Assert.True(queue.Busy);
        Assert.Equal(30, queue.Waiting!.Step);
        gates[10].SetResult();
        await queue.Idle;
        Assert.Equal([10, 30], started);
        Assert.False(queue.Busy);
    }

    [Fact]
    public async Task A_failing_probe_does_not_stop_the_queue()
    {
        var ran = new List<long>();
        var gate = new TaskCompletionSource();
        var queue = new ProbeQueue(async r =>
        {
            ran.Add(r.Step);
            if (r.Step == 1) { await gate.Task; throw new InvalidOperationException("probe crashed"); }
        });
        queue.Request(new ProbeRequest(1, null, null));
        queue.Request(new ProbeRequest(2, null, null));
        gate.SetResult();
        await queue.Idle;
        Assert.Equal([1, 2], ran);
    }

    // ---- CheckpointUploader ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Uploader_holds_at_most_two_checkpoints_while_uploads_are_slow_and_keeps_the_latest()
    {
        var release = new SemaphoreSlim(0);
        var firstStarted = new TaskCompletionSource();
        var uploaded = new List<(long Step, bool Probe)>();
        var uploader = new CheckpointUploader(async (c, ct) => { firstStarted.TrySetResult(); await release.WaitAsync(ct); return $"ckpt/{c.Step}"; },
            (c, blob, error) => { lock (uploaded) uploaded.Add((c.Step, c.Probe)); }, CancellationToken.None);
        var held = new List<int>();
        for (var step = 1; step <= 50; step++)
        {
            uploader.Offer(new PendingCheckpoint(step, new FeedPosition(0, step), new byte[1 << 20], Probe: step == 10, Final: false));
            if (step == 1) await firstStarted.Task; // step 1 is uploading (and stuck) from here on
            held.Add(uploader.Held);
        }
        Assert.All(held, h => Assert.InRange(h, 1, 2)); // never a queue of 1 MiB checkpoints
        Assert.Equal(48, uploader.Superseded);          // 1 uploading, 50 waiting in turn: all but the latest dropped
        release.Release(10);
        await Task.Run(uploader.Flush);
        Assert.Equal([1, 50], uploaded.Select(u => u.Step));
        Assert.True(uploaded[1].Probe, "the superseded step-10 checkpoint's probe moves to the newer one");
        Assert.Equal(0, uploader.Held);
    }

    [Fact]
    public async Task Uploader_reports_a_failed_upload_and_goes_on()
    {
        var results = new List<(long, string?, Exception?)>();
        var uploader = new CheckpointUploader((c, _) => c.Step == 1 ? Task.FromException<string>(new IOException("storage down")) : Task.FromResult($"ckpt/{c.Step}"),
            (c, blob, error) => { lock (results) results.Add((c.Step, blob, error)); }, CancellationToken.None);
        uploader.Offer(new PendingCheckpoint(1, default, [1], false, false));
        await Task.Run(uploader.Flush);
        uploader.Offer(new PendingCheckpoint(2, default, [2], false, true));
        await Task.Run(uploader.Flush);
        Assert.Equal(2, results.Count);
        Assert.IsType<IOException>(results[0].Item3);
        Assert.Equal("ckpt/2", results[1].Item2);
    }

    // ---- ProbeBaselineCache ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Baselines_are_computed_once_for_concurrent_runs_and_a_failure_is_not_cached()
    {
        var cache = new ProbeBaselineCache();
        var computed = 0;
        var gate = new ManualResetEventSlim();
        LvMae.Model.Probing.ProbeSummary Compute()
        {
            Interlocked.Increment(ref computed);
            gate.Wait();
            return new LvMae.Model.Probing.ProbeSummary("linear", 0.5, 0.1, null, null, null, 3, 8, 4, 0);
        }
        var first = Task.Run(() => cache.GetOrAdd("k", Compute));
        var second = Task.Run(() => cache.GetOrAdd("k", Compute));
        gate.Set();
        Assert.Same(await first, await second);
        Assert.Equal(1, computed);

        Assert.Throws<InvalidOperationException>(() => cache.GetOrAdd("bad", () => throw new InvalidOperationException("probe crashed")));
        Assert.Equal(0.25, cache.GetOrAdd("bad", () => new LvMae.Model.Probing.ProbeSummary("linear", 0.25, 0, null, null, null, 1, 8, 4, 0)).Top1);
    }

    // ---- RunHistory ------------------------------------------------------------------------------------------------------

    [Fact]
    public void History_keeps_the_last_line_per_step_reads_probes_and_condenses()
    {
        var text = string.Join("\n",
            """{"step":1,"epoch":0,"loss":1.0,"lr":0.0001,"tokens_per_s":10}""",
            """{"step":2,"epoch":0,"loss":0.8,"lr":0.0002,"tokens_per_s":10}""",
            "not json",
            """{"checkpoint":"runs/r/checkpoints/000000002.ckpt","step":2}""",
            """{"step":2,"epoch":0,"loss":0.6,"lr":0.0002,"tokens_per_s":12}""",
            """{"step":3,"epoch":1,"loss":0.4,"lr":0.0003,"tokens_per_s":11}""",
            """{"step":4,"epoch":1,"loss":0.2,"lr":0.0004,"tokens_per_s":11}""",
            """{"probe":"cls/lv-mae/attentive","step":4,"top1":0.75,"top1_sd":0.05,"seeds":3}""");
        var history = RunHistory.Parse(text);
        Assert.Equal([1L, 2, 3, 4], history.Steps.Select(s => s.Step));
        Assert.Equal(0.6, history.Steps[1].Loss, 9); // re-logged after a resume: the last line wins
        var probe = Assert.Single(history.Probes);
        Assert.Equal(("cls/lv-mae/attentive", 0.75, 0.05, 3), (probe.Key, probe.Top1!.Value, probe.Top1Sd!.Value, probe.Seeds));
        var rows = history.Condensed(2);
        Assert.Equal([2L, 4], rows.Select(r => r.Step));
        Assert.Equal(0.8, rows[0].Loss, 9);   // mean of steps 1-2
        Assert.Equal(0.3, rows[1].Loss, 9);   // mean of steps 3-4
        var (loss, probes) = history.Series();
        Assert.Equal(4, loss.Count);
        Assert.Equal([(4L, 0.75)], probes["cls/lv-mae/attentive"]);
    }

    // ---- RunSettings -----------------------------------------------------------------------------------------------------

    [Fact]
    public void Settings_resolve_the_defaults_the_window_and_the_schedule()
    {
        var config = new TrainingRunConfig { Encoder = "x" };
        Assert.Equal(TrainingRunConfig.DefaultSteps, RunSettings.TotalSteps(config, 100));          // 10 epochs of 7 batches < 2000
        Assert.Equal(10 * 625, RunSettings.TotalSteps(config, 10_000));                              // 10 epochs of 625 batches > 2000
        Assert.Equal(3 * 7, RunSettings.TotalSteps(config with { Epochs = 3 }, 100));
        Assert.Equal(50, RunSettings.TotalSteps(config with { Steps = 50, Epochs = 3 }, 100));

        var whole = RunSettings.Window(config);
        Assert.Equal((256, 1280.0, 1280.0), (whole.MaxTokens, whole.MinSeconds, whole.MaxSeconds));
        var sampled = RunSettings.Window(config with { Window = "10..640", MaxTokens = 128 });
        Assert.Equal((128, 10.0, 640.0), (sampled.MaxTokens, sampled.MinSeconds, sampled.MaxSeconds));
        Assert.Contains("'3..2'", Assert.Throws<ArgumentException>(() => RunSettings.Validate(config with { Window = "3..2" })).Message);

        var schedule = RunSettings.Schedule(config, 2000);
        Assert.Equal((1e-3, 200L, 2000L), (schedule.PeakLr, schedule.WarmupSteps, schedule.TotalSteps));
        var custom = RunSettings.Schedule(config with { Lr = 3e-4, WarmupSteps = 50 }, 1000);
        Assert.Equal((3e-4, 50L), (custom.PeakLr, custom.WarmupSteps));
        Assert.StartsWith("peak lr 0.0003, warm-up 50 steps, cosine to 0 at step 1000", custom.ToString());

        // Random masking's ratio is lvmae train's (chosen on val), recorded in the trainer's options so a checkpoint resumes
        // with it; other strategies and a run's own ratio are passed through.
        Assert.Equal(TrainingRunConfig.DefaultRandomMaskRatio, RunSettings.TrainerOptions(config, 256, 10).MaskRatio);
        Assert.Equal(0.6, TrainingRunConfig.DefaultRandomMaskRatio);
        Assert.Equal(0.3, RunSettings.TrainerOptions(config with { MaskRatio = 0.3 }, 256, 10).MaskRatio);
        Assert.Null(RunSettings.TrainerOptions(config with { Masking = "semantic" }, 256, 10).MaskRatio);
    }

    [Fact]
    public void A_runs_model_settings_change_its_architecture_and_bad_ones_are_refused_at_start()
    {
        var config = new TrainingRunConfig { Encoder = "x", ModelSettings = "decoderdim=128, DecoderHeads=8,RelativePositionRange=null,StandardiseInputs=true" };
        RunSettings.Validate(config);
        var model = RunSettings.TrainerOptions(config, 256, 10).Model;
        var preset = RunSettings.TrainerOptions(config with { ModelSettings = null }, 256, 10).Model;
        Assert.Equal((128, 8, (int?)null, true), (model.DecoderDim, model.DecoderHeads, model.RelativePositionRange, model.StandardiseInputs));
        Assert.Equal((64, 4, (int?)16, false), (preset.DecoderDim, preset.DecoderHeads, preset.RelativePositionRange, preset.StandardiseInputs));
        Assert.Equal(preset with { DecoderDim = 128, DecoderHeads = 8, RelativePositionRange = null, StandardiseInputs = true }, model);
        Assert.Contains("ModelSettings", RunSettings.Differences(config, config with { ModelSettings = null }).Single(), StringComparison.OrdinalIgnoreCase);
        foreach (var (bad, message) in new[]
                 {
                     ("DecoderWidth=128", "unknown model setting 'DecoderWidth'; known: EncoderDim"), ("EmbeddingDim=64", "unknown model setting 'EmbeddingDim'"),
                     ("DecoderDim", "'DecoderDim' is not Name=value"), ("DecoderDim=wide", "DecoderDim: 'wide' is not a Int32"),
                     ("DecoderDim=100,DecoderHeads=8", "decoder width 100 is not divisible by 8 heads"), ("InputScaling=Huge", "InputScaling=Huge"),
                     ("DecoderDepth=0", "the decoder >= 1"),
                 })
            Assert.Contains(message, Assert.Throws<ArgumentException>(() => RunSettings.Validate(config with { ModelSettings = bad })).Message);
    }

    [Fact]
    public void Settings_name_the_differences_between_two_configs()
    {
        var a = new TrainingRunConfig { Encoder = "x", FsqLevels = [8, 5] };
        Assert.Empty(RunSettings.Differences(a, a with { FsqLevels = [8, 5] })); // equal lists are equal
        var diff = RunSettings.Differences(a, a with { Lr = 3e-4, Masking = "semantic" });
        Assert.Equal(2, diff.Count);
        Assert.Contains(diff, d => d.StartsWith("masking \"random\" vs \"semantic\"", StringComparison.Ordinal));
        Assert.Contains(diff, d => d.StartsWith("lr null vs 0.0003", StringComparison.Ordinal));
        foreach (var (bad, message) in new (TrainingRunConfig, string)[]
                 {
                     (a with { Lr = 0 }, "learning rate"), (a with { ProbeSeeds = 0 }, "probe seeds"), (a with { WarmupSteps = -1 }, "warm-up"),
                     (a with { Epochs = 0 }, "epochs"), (a with { TorchThreads = 0 }, "threads"), (a with { Window = "all" }, "window 'all'"),
                 })
            Assert.Contains(message, Assert.Throws<ArgumentException>(() => RunSettings.Validate(bad)).Message);
    }

    // ---- ProbeVerdict ----------------------------------------------------------------------------------------------------

    private static ProbeScore Score(string features, string probe, double top1, double sd = 0, int test = 40) =>
        new() { Column = "activity", Features = features, Probe = probe, Top1 = top1, Top1Sd = sd, Seeds = 3, Test = test, Train = 80 };

    [Fact]
    public void A_verdict_needs_the_majority_and_both_raw_baselines_beaten_by_more_than_a_video_and_the_sds()
    {
        var baselines = new[]
        {
            Score(ProbeScore.Majority, "baseline", 0.25), Score(ProbeScore.Raw, "linear", 0.20),
            Score(ProbeScore.Raw, "attentive", 0.22, 0.02), Score(ProbeScore.Raw, "attentive+pos", 0.30, 0.03),
        };
        var comparisons = ProbeVerdict.Compare([.. baselines, Score(ProbeScore.LvMae, "attentive", 0.70, 0.02), Score(ProbeScore.LvMae, "linear", 0.26)]);
        var attentive = comparisons.Where(c => c.Probe == "attentive").ToList();
        Assert.Equal(["majority", "raw attentive", "raw attentive+pos"], attentive.Select(c => c.Baseline));
        Assert.All(attentive, c => Assert.True(c.Beats));
        Assert.Equal(0.05, attentive[2].Margin, 9); // the two sds (0.02 + 0.03) are more than one test video (0.025)
        Assert.StartsWith("activity, LV-MAE attentive 70.0% ± 2.0: beats every baseline", ProbeVerdict.Line(comparisons, "activity", "attentive"));

        // 26% vs a 25% majority baseline is "at the majority baseline": never a win.
        var linear = comparisons.Where(c => c.Probe == "linear").ToList();
        Assert.False(linear.Single(c => c.Baseline == "majority").Beats);
        Assert.Contains("does not beat", ProbeVerdict.Line(comparisons, "activity", "linear"));
    }

    [Fact]
    public void A_verdict_also_needs_the_same_model_untrained_beaten()
    {
        var scores = new[]
        {
            Score(ProbeScore.Majority, "baseline", 0.10), Score(ProbeScore.Raw, "attentive", 0.12, 0.01), Score(ProbeScore.Raw, "attentive+pos", 0.60, 0.02),
            Score(ProbeScore.Untrained, "attentive", 0.70, 0.02), Score(ProbeScore.LvMae, "attentive", 0.72, 0.02),
        };
        var comparisons = ProbeVerdict.Compare(scores);
        Assert.Equal(["majority", "raw attentive", "raw attentive+pos", "step 0 attentive"], comparisons.Select(c => c.Baseline));
        Assert.False(comparisons.Single(c => c.Baseline == "step 0 attentive").Beats);   // +2 points, sds 4
        Assert.Contains("does not beat step 0 attentive", ProbeVerdict.Line(comparisons, "activity", "attentive"));
        Assert.True(ProbeVerdict.Compare([.. scores[..4], Score(ProbeScore.LvMae, "attentive", 0.80, 0.02)]).All(c => c.Beats));
    }

    // ---- FeatureProbe ----------------------------------------------------------------------------------------------------

    [Fact]
    public void Features_written_elsewhere_are_probed_by_the_product_s_probes_with_the_labels_split()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-features-").FullName;
        try
        {
            var rng = new Random(2);
            var csv = new System.Text.StringBuilder("videoId,cls,split\n");
            for (var i = 0; i < 200; i++)
            {
                var label = i % 2;
                var tokens = Enumerable.Range(0, 5 * 8).Select(k => (float)(rng.NextDouble() - 0.5) * 0.2f + (label == 0 ? 2f : -2f)).ToArray();
                LvMae.Formats.NpyArray.FromFloats(tokens, 5, 8).Write(Path.Combine(dir, $"v{i:D2}.npy"));
                csv.Append($"v{i:D2},c{label},{(i < 8 ? "test" : i < 12 ? "pretrain" : "train")}\n");
            }
            csv.Append("u1,,pretrain\n");
            LvMae.Formats.NpyArray.FromFloats(new float[5 * 8], 5, 8).Write(Path.Combine(dir, "u1.npy"));
            File.WriteAllText(Path.Combine(dir, "labels.csv"), csv.ToString());

            var scores = FeatureProbe.Run(dir, Path.Combine(dir, "labels.csv"), "cls", "linear", new LvMae.Model.Probing.ProbeSettings { Seeds = 2, Epochs = 30, Device = "cpu" });
            Assert.Equal([ProbeScore.Majority, FeatureProbe.Features], scores.Select(s => s.Features));
            var linear = scores[1];
            Assert.Equal((188, 8, 2), (linear.Train, linear.Test, linear.Seeds));   // pretrain videos neither train nor score the probe
            Assert.True(linear.Top1 > 0.75, $"linear probe top-1 {linear.Top1}");
            Assert.Contains("missing", Assert.Throws<ArgumentException>(() =>
            {
                File.Delete(Path.Combine(dir, "v03.npy"));
                FeatureProbe.Run(dir, Path.Combine(dir, "labels.csv"), "cls", "linear", new LvMae.Model.Probing.ProbeSettings { Seeds = 1, Device = "cpu" });
            }).Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void The_eta_follows_the_typical_step_not_the_last_one()
    {
        var time = new StepTimeAverage();
        Assert.Null(time.Eta(100));
        for (var i = 0; i < 50; i++) time.Add(TimeSpan.FromSeconds(1));
        Assert.Equal(100, time.Eta(100)!.Value.TotalSeconds, 3);
        time.Add(TimeSpan.FromSeconds(30));   // one slow step (a GC pause) moves the ETA by a few percent, not 30x
        Assert.InRange(time.Eta(100)!.Value.TotalSeconds, 100, 260);
        time.Add(TimeSpan.FromMilliseconds(10));
        Assert.InRange(time.Eta(100)!.Value.TotalSeconds, 100, 260);
        Assert.Equal(TimeSpan.Zero, time.Eta(-5));
    }
}
