using System.Text;
using System.Text.Json.Nodes;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Grains.Training;
using LvMae.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace LvMae.Grains.Tests;

[Collection(TrainingClusterCollection.Name)]
public sealed class TrainingRunTests(TrainingClusterFixture fixture)
{
    private static TrainingRunConfig Tiny(long steps, long probeEvery) => new()
    {
        Preset = "tiny",
        Encoder = TrainingClusterFixture.Encoder,
        Steps = steps,
        CheckpointEvery = 10,
        ProbeEvery = probeEvery,
        BatchSize = 8,
        MaxTokens = 32,
        Window = "10..160",
        Seed = 3,
        Device = "cpu",
        TorchThreads = 1,
        ProbeEpochs = 8,
        ProbeSeeds = 2,
    };

    [Fact]
    public async Task Run_trains_on_the_gpu_silo_checkpoints_probes_reports_a_corrupt_blob_plots_and_exports()
    {
        var gpuSilos = await fixture.GpuSilosAsync();
        Assert.Single(gpuSilos);
        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-full");
        var started = await run.Start(Tiny(steps: 30, probeEvery: 15));
        Assert.Equal(TrainingState.Training, started.State);
        Assert.Contains(started.Silo, gpuSilos);

        var done = await fixture.WaitAsync(run, p => p.State == TrainingState.Done && !p.Probing, TimeSpan.FromSeconds(90));
        Assert.Equal(30, done.Step);
        Assert.Equal(30, done.LatestCheckpointStep);
        Assert.Equal("cpu", done.Device);
        foreach (var step in new[] { 10, 20, 30 })
            Assert.True(await fixture.Blobs.ExistsAsync(BlobLayout.RunCheckpoint("train-full", step)), $"checkpoint {step}");
        Assert.True(await fixture.Blobs.ExistsAsync(BlobLayout.RunConfig("train-full")));

        // The corrupt blob was skipped and reported, the run went on.
        Assert.True(done.SkippedVideos > 0);
        Assert.Contains(done.RecentSkips, s => s.StartsWith(TrainingClusterFixture.CorruptId, StringComparison.Ordinal));

        // Probes at step 15 (every K) and at the end: the majority baseline, LV-MAE linear + attentive, raw linear, attentive
        // and attentive+pos, each over the run's 2 probe seeds (mean and sd).
        foreach (var (features, probe) in new[] { ("majority", "baseline"), ("lv-mae", "linear"), ("lv-mae", "attentive"), ("raw", "linear"), ("raw", "attentive"), ("raw", "attentive+pos") })
        {
            var score = Assert.Single(done.Probes, s => s.Column == "cls" && s.Features == features && s.Probe == probe);
            Assert.Equal(30, score.Step);
            Assert.InRange(score.Top1!.Value, 0, 1);
            Assert.True(score.Test > 0 && score.Train > 0);
            Assert.Equal(features == "majority" ? 1 : 2, score.Seeds);
            Assert.NotNull(score.Top1Sd);
        }
        Assert.Equal(done.Schedule, new TrainingSchedule { PeakLr = 1e-3, WarmupSteps = 3, TotalSteps = 30, BatchSize = 8 });
        var metrics = Encoding.UTF8.GetString((await fixture.Blobs.TryDownloadAsync(BlobLayout.RunMetrics("train-full")))!)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Contains(metrics, m => m["probe"] is not null && m["step"]!.GetValue<long>() == 15);
        Assert.Equal(30, metrics.Count(m => m["loss"] is not null));

        var summary = await fixture.Client.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Get("train-full");
        Assert.NotNull(summary);
        Assert.Equal("Done", summary.State);
        Assert.Equal(30, summary.Step);
        Assert.True(summary.Metrics.ContainsKey("loss"));
        Assert.True(summary.Metrics.ContainsKey("cls/lv-mae/attentive"));

        var png = await fixture.Blobs.TryDownloadAsync(BlobLayout.RunPlot("train-full", "training"));
        Assert.NotNull(png);
        Assert.Equal(new byte[] { 137, 80, 78, 71 }, png.Take(4).ToArray());

        await run.Export();
        var exported = await fixture.WaitAsync(run, p => !p.Exporting && p.Export is not null, TimeSpan.FromSeconds(60));
        Assert.Null(exported.Export!.Error);
        Assert.Equal(TrainingClusterFixture.Videos, exported.Export.Videos);
        var cls = NpyArray.Read(new MemoryStream((await fixture.Blobs.TryDownloadAsync(BlobLayout.RunExport("train-full", RunExporter.ClsFile)))!));
        Assert.Equal(new long[] { TrainingClusterFixture.Videos, 64 }, cls.Shape);
        var index = Encoding.UTF8.GetString((await fixture.Blobs.TryDownloadAsync(BlobLayout.RunExport("train-full", RunExporter.IndexFile)))!);
        Assert.Contains("train-v00", index);
        Assert.DoesNotContain(TrainingClusterFixture.CorruptId, index);
    }

    [Fact]
    public async Task Run_stopped_with_its_silo_resumes_from_its_checkpoint_and_reaches_the_uninterrupted_loss()
    {
        var gpuSilos = await fixture.GpuSilosAsync();
        var reference = fixture.Client.GetGrain<ITrainingRunGrain>("train-ref");
        await reference.Start(Tiny(steps: 40, probeEvery: -1));
        var expected = await fixture.WaitAsync(reference, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(60));
        Assert.Equal(0, expected.Resumes);

        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-crash");
        await run.Start(Tiny(steps: 40, probeEvery: -1));
        var midway = await fixture.WaitAsync(run, p => p.LatestCheckpointStep >= 20, TimeSpan.FromSeconds(60));
        Assert.True(midway.Step < 40, "the run should still be going");
        Assert.Contains(midway.Silo, gpuSilos);
        Assert.True(await fixture.HasResumeReminderAsync("train-crash"), "a training run keeps its resume reminder");
        var host = fixture.Cluster.Silos.Single(s => s.SiloAddress.ToString() == midway.Silo);
        await fixture.Cluster.StopSiloAsync(host);

        // Nothing calls the run until the registry says Done: its reminder's tick activates it on the other silo.
        await fixture.WaitRegistryAsync("train-crash", TrainingState.Done, TimeSpan.FromSeconds(90));
        var resumed = await run.GetProgress();
        Assert.True(resumed.Resumes >= 1);
        Assert.NotEqual(midway.Silo, resumed.Silo);
        Assert.Equal(40, resumed.Step);
        Assert.Equal(expected.Loss!.Value, resumed.Loss!.Value, 6);
        Assert.False(await fixture.HasResumeReminderAsync("train-crash"), "a finished run drops its reminder");

        await fixture.Cluster.StartAdditionalSiloAsync(); // a GPU silo again for the other tests
    }

    [Fact]
    public async Task Videos_embedded_while_a_run_trains_join_its_later_epochs_and_the_next_probe()
    {
        const string encoder = "late";
        await fixture.ImportSyntheticAsync(encoder, Enumerable.Range(0, 4), seed: 1);
        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-late");
        await run.Start(Tiny(steps: 150, probeEvery: -1) with { Encoder = encoder, BatchSize = 2, CheckpointEvery = 50 });
        await fixture.WaitAsync(run, p => p.Step >= 4, TimeSpan.FromSeconds(60));
        await fixture.ImportSyntheticAsync(encoder, Enumerable.Range(4, 8), seed: 2);
        var done = await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(90));
        Assert.Empty(done.Probes); // --probe-every -1

        var steps = Encoding.UTF8.GetString((await fixture.Blobs.TryDownloadAsync(BlobLayout.RunMetrics("train-late")))!)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).Where(m => m["loss"] is not null).ToList();
        var perEpoch = steps.GroupBy(m => m["epoch"]!.GetValue<long>()).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(1, perEpoch[0]);          // 4 videos, 2 of them train (the held-out 'test' ones are never trained on), batches of 2
        Assert.Contains(perEpoch.Values, n => n == 3); // 12 videos, 6 train, in a later epoch

        // A probe asked for now sees all 12 labelled videos, split by their 'split' column.
        await run.Probe("cls", "linear");
        var probed = await fixture.WaitAsync(run, p => !p.Probing && p.Probes.Count > 0, TimeSpan.FromSeconds(60));
        var lvmae = Assert.Single(probed.Probes, s => s.Features == "lv-mae");
        var raw = Assert.Single(probed.Probes, s => s.Features == "raw");
        Assert.Single(probed.Probes, s => s.Features == "majority");
        Assert.Equal("linear", lvmae.Probe);
        Assert.Equal((6, 6), (lvmae.Train, lvmae.Test));
        Assert.Equal((6, 6), (raw.Train, raw.Test));
        Assert.Equal(150, lvmae.Step);
    }

    [Fact]
    public async Task Stop_checkpoints_where_it_stops_and_resume_finishes_the_run()
    {
        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-stop");
        var config = Tiny(steps: 200, probeEvery: -1) with { CheckpointEvery = 1000 };
        await run.Start(config);
        await fixture.WaitAsync(run, p => p.Step >= 5, TimeSpan.FromSeconds(60));
        await run.Stop();
        var stopped = await fixture.WaitAsync(run, p => p.State == TrainingState.Stopped, TimeSpan.FromSeconds(30));
        Assert.InRange(stopped.LatestCheckpointStep, 5, 199);
        // The registry hears of it right after the state is saved and the reminder dropped: a stopped run is not resumed by a tick.
        await fixture.WaitRegistryAsync("train-stop", TrainingState.Stopped, TimeSpan.FromSeconds(30));
        Assert.False(await fixture.HasResumeReminderAsync("train-stop"), "a stopped run drops its reminder");

        // Start with its config on a stopped run resumes it (same as Resume); a second Start of a finished run changes nothing.
        await run.Start(config);
        // Until it is done: on idle cores the tiny run can finish (and drop its reminder) before the check below.
        // The start registers it in the background after Start returns (slow under load): poll, bounded.
        var reminderDeadline = DateTime.UtcNow.AddSeconds(30);
        bool kept;
        while (!(kept = await fixture.HasResumeReminderAsync("train-stop") || (await run.GetProgress()).State == TrainingState.Done)
               && DateTime.UtcNow < reminderDeadline)
            await Task.Delay(200);
        Assert.True(kept, "a resumed run keeps a reminder again while it runs");
        var done = await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(90));
        Assert.Equal(200, done.Step);
        Assert.Equal(1, done.Resumes);
        Assert.Equal(TrainingState.Done, (await run.Start(config)).State);
        Assert.Equal(200, (await run.GetProgress()).Step);
    }

    [Fact]
    public async Task Lvmae_run_with_adaptive_decoder_and_fsq_targets_stopped_and_resumed_reaches_the_uninterrupted_loss()
    {
        var lvmae = Tiny(steps: 30, probeEvery: -1) with
        {
            DecoderMasking = "adaptive", DecoderBudget = 0.15, Targets = "fsq", FsqLevels = [5, 5, 3], CheckpointEvery = 1000,
        };
        var reference = fixture.Client.GetGrain<ITrainingRunGrain>("train-lvmae-ref");
        await reference.Start(lvmae);
        var expected = await fixture.WaitAsync(reference, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(90));
        Assert.Equal(("adaptive", "fsq"), (expected.Config!.DecoderMasking, expected.Config.Targets));
        Assert.StartsWith("FSQ [5,5,3]: ", expected.Codebook);
        var header = LvMae.Model.Training.Checkpoint.ReadHeader((await fixture.Blobs.TryDownloadAsync(expected.LatestCheckpoint!))!);
        Assert.True(header.Options.Adaptive.FsqTargets);
        Assert.Equal(LvMae.Model.Adaptive.DecoderMasking.Adaptive, header.Options.Adaptive.DecoderMasking);
        Assert.True(expected.Loss > 0.5, $"cross-entropy over 75 codes, not an embedding MSE: {expected.Loss}");
        var metrics = Encoding.UTF8.GetString((await fixture.Blobs.TryDownloadAsync(BlobLayout.RunMetrics("train-lvmae-ref")))!);
        Assert.Contains("\"fsq_codes_used\"", metrics);

        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-lvmae-stop");
        await run.Start(lvmae);
        await fixture.WaitAsync(run, p => p.Step >= 5, TimeSpan.FromSeconds(60));
        await run.Stop();
        var stopped = await fixture.WaitAsync(run, p => p.State == TrainingState.Stopped, TimeSpan.FromSeconds(30));
        Assert.InRange(stopped.LatestCheckpointStep, 5, 29);
        await run.Start(lvmae);
        var done = await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(90));
        Assert.Equal(1, done.Resumes);
        // Scorer (weights, Adam, noise), FSQ quantizer and code head all came back from the checkpoint.
        Assert.Equal(expected.Loss!.Value, done.Loss!.Value, 6);

        var bad = fixture.Client.GetGrain<ITrainingRunGrain>("train-lvmae-bad");
        Assert.Contains("'topk'", (await Assert.ThrowsAsync<ArgumentException>(() => bad.Start(lvmae with { DecoderMasking = "topk" }))).Message);
        Assert.Contains("budget", (await Assert.ThrowsAsync<ArgumentException>(() => bad.Start(lvmae with { DecoderBudget = 0 }))).Message);
        Assert.Contains("'codes'", (await Assert.ThrowsAsync<ArgumentException>(() => bad.Start(lvmae with { Targets = "codes" }))).Message);
        Assert.Contains(">= 2 levels", (await Assert.ThrowsAsync<ArgumentException>(() => bad.Start(lvmae with { FsqLevels = [8, 1] }))).Message);
        Assert.Contains("65536", (await Assert.ThrowsAsync<ArgumentException>(() => bad.Start(lvmae with { FsqLevels = [16, 16, 16, 16, 2] }))).Message);
    }

    [Fact]
    public async Task Run_started_before_any_video_is_embedded_waits_then_trains()
    {
        const string encoder = "early";
        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-early");
        await run.Start(Tiny(steps: 10, probeEvery: -1) with { Encoder = encoder, BatchSize = 2 });
        var waiting = await fixture.WaitAsync(run, p => p.Message is not null, TimeSpan.FromSeconds(30));
        Assert.StartsWith("waiting for videos embedded with 'early'", waiting.Message);
        Assert.Equal(0, waiting.Step);

        await fixture.ImportSyntheticAsync(encoder, Enumerable.Range(0, 3), seed: 3);
        var done = await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(60));
        Assert.Equal(10, done.Step);
        Assert.Equal("finished at step 10", done.Message);
    }

    [Fact]
    public async Task A_state_write_that_fails_is_retried_and_the_run_is_never_marked_failed_while_it_trains()
    {
        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-flaky");
        await run.Start(Tiny(steps: 30, probeEvery: -1));
        await fixture.WaitAsync(run, p => p.Step >= 3, TimeSpan.FromSeconds(60));
        const string id = "lvmae.training-run/train-flaky";
        FlakyGrainStorage.FailNextWrites(id, 2); // the next state write (checkpoint 10) fails twice
        // WaitAsync throws as soon as the run says Failed.
        var done = await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(90));
        Assert.Equal(2, FlakyGrainStorage.Failed(id));
        Assert.Equal(30, done.Step);
        Assert.Equal(30, done.LatestCheckpointStep);
        Assert.Equal(0, done.Resumes);
    }

    [Fact]
    public async Task A_corrupt_newest_checkpoint_is_skipped_and_the_run_resumes_from_the_previous_one_to_the_uninterrupted_loss()
    {
        var config = Tiny(steps: 40, probeEvery: -1);
        var reference = fixture.Client.GetGrain<ITrainingRunGrain>("train-fallback-ref");
        await reference.Start(config);
        var expected = await fixture.WaitAsync(reference, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(90));

        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-fallback");
        await run.Start(config);
        await fixture.WaitAsync(run, p => p.LatestCheckpointStep >= 20, TimeSpan.FromSeconds(60));
        await run.Stop();
        var stopped = await fixture.WaitAsync(run, p => p.State == TrainingState.Stopped, TimeSpan.FromSeconds(30));
        var newest = (await fixture.Blobs.TryGetPropertiesAsync(stopped.LatestCheckpoint!))!;
        await fixture.Blobs.UploadAsync(newest.Name, new byte[] { 1, 2, 3, 4 }, new Dictionary<string, string>(newest.Metadata)); // torn write

        await run.Resume();
        var done = await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(90));
        Assert.Equal(1, done.Resumes);
        Assert.Equal(40, done.Step);
        Assert.Equal(expected.Loss!.Value, done.Loss!.Value, 6); // the previous checkpoint's feed position replays the same batches
        var metrics = Encoding.UTF8.GetString((await fixture.Blobs.TryDownloadAsync(BlobLayout.RunMetrics("train-fallback")))!);
        Assert.Contains($"\"checkpoint_rejected\":\"{newest.Name}\"", metrics);
    }

    [Fact]
    public async Task Another_config_under_the_same_name_is_refused_and_delete_frees_the_name()
    {
        var run = fixture.Client.GetGrain<ITrainingRunGrain>("train-del");
        var config = Tiny(steps: 12, probeEvery: -1);
        await run.Start(config);
        await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(60));
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => run.Start(config with { Lr = 3e-4, Steps = 20 }));
        Assert.Contains("steps 12 vs 20", refused.Message);
        Assert.Contains("lr null vs 0.0003", refused.Message);
        Assert.Equal(TrainingState.Done, (await run.Start(config with { FsqLevels = [8, 5, 5, 5] })).State); // the same config: idempotent

        await run.Delete();
        Assert.Equal(TrainingState.None, (await run.GetProgress()).State);
        Assert.Null(await fixture.Client.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Get("train-del"));
        await foreach (var blob in fixture.Blobs.ListAsync(BlobLayout.RunPrefix("train-del"))) Assert.Fail($"{blob.Name} was left behind");

        await run.Start(config with { Lr = 3e-4 });
        var again = await fixture.WaitAsync(run, p => p.State == TrainingState.Done, TimeSpan.FromSeconds(60));
        Assert.Equal(3e-4, again.Schedule!.PeakLr);
        Assert.Equal(0, again.Resumes);

        // A run deleted while it trains takes its resume reminder with it.
        var live = fixture.Client.GetGrain<ITrainingRunGrain>("train-del-live");
        await live.Start(Tiny(steps: 500, probeEvery: -1));
        await fixture.WaitAsync(live, p => p.Step >= 3, TimeSpan.FromSeconds(60));
        Assert.True(await fixture.HasResumeReminderAsync("train-del-live"));
        await live.Delete();
        Assert.False(await fixture.HasResumeReminderAsync("train-del-live"), "a deleted run leaves no reminder");
        Assert.Equal(TrainingState.None, (await live.GetProgress()).State);
    }
}
