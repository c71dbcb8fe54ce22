using System.Globalization;
using System.Text.Json.Nodes;
using LvMae.Contracts;
using LvMae.Corpus;
using LvMae.Client;
using LvMae.Silo;
using LvMae.Storage;
using LvMae.Testing;
using Xunit.Abstractions;

namespace LvMae.Grains.Tests;

/// <summary>
/// A training run whose silo PROCESS is SIGKILLed mid-run (three silos on Azure Table membership and reminders, one
/// Azurite, the `lvmae` CLI as its own process, the product's 1-minute resume reminder): nothing calls the run after the
/// kill, its reminder's tick activates it on a live silo, it continues from its newest checkpoint, reaches its final step
/// and the loss of the same run uninterrupted.
/// </summary>
public sealed class TrainingFailoverProcessTests(AzuriteFixture azurite, ITestOutputHelper output) : IClassFixture<AzuriteFixture>, IDisposable
{
    private const int Steps = 60;
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-train-procs-").FullName;

    [Fact]
    public async Task A_run_whose_silo_is_killed_resumes_through_its_reminder_on_another_silo_and_reaches_the_uninterrupted_loss()
    {
        await using var procs = await ProcessCluster.StartAsync(azurite, _dir, 3, env =>
        {
            env["Processing__DispatchInterval"] = "00:00:01";
            env["Training__StepDelay"] = "00:00:00.100"; // a run lasts long enough to be killed between checkpoints
            env["Training__ReportInterval"] = "00:00:01";
        });
        var (cluster, silos, client) = (procs.Name, procs.Silos, procs.Client);
        try
        {
            var blobs = new BlobStore(azurite.ConnectionString, cluster);
            var npys = Path.Combine(_dir, "npys");
            var videos = OrderBenchmark.Write(npys, new OrderBenchmarkSpec { Videos = 24, Classes = 2, Steps = 3, Dimension = 32, Seed = 5 });
            var ingestor = new VideoIngestor(blobs, client.Grains);
            var ids = new List<string>();
            foreach (var video in videos) ids.Add((await ingestor.ImportEmbeddingsAsync(Path.Combine(npys, video.Id + ".npy"), "synth", [])).VideoId);
            var config = new TrainingRunConfig
            {
                Preset = "tiny", Encoder = "synth", Steps = Steps, CheckpointEvery = 10, BatchSize = 4, MaxTokens = 32, ProbeEvery = -1,
                Seed = 3, Device = "cpu", TorchThreads = 1,
            };
            var registry = client.Grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key);
            async Task<RunSummary?> Summary(string run)
            {
                try { return await registry.Get(run); }
                catch (Exception e) when (e is OrleansException or TimeoutException) { return null; } // its silo is going away
            }
            async Task<RunSummary> WaitAsync(string run, Func<RunSummary, bool> until, TimeSpan timeout)
            {
                var deadline = DateTime.UtcNow + timeout;
                while (true)
                {
                    if (await Summary(run) is { } s && until(s)) return s;
                    if (DateTime.UtcNow > deadline) throw new TimeoutException($"run {run}: {(await Summary(run))?.State} at step {(await Summary(run))?.Step}");
                    await Task.Delay(250);
                }
            }

            await WaitIndexAsync(client, ids);
            await client.Grains.GetGrain<ITrainingRunGrain>("ref").Start(config);
            await WaitAsync("ref", s => s.State == "Done", TimeSpan.FromMinutes(5));
            var expected = await client.Grains.GetGrain<ITrainingRunGrain>("ref").GetProgress();
            Assert.Equal(Steps, expected.Step);

            var run = client.Grains.GetGrain<ITrainingRunGrain>("victim");
            await run.Start(config);
            await WaitAsync("victim", s => s.LatestCheckpoint is not null && s.Step >= 20, TimeSpan.FromMinutes(5));
            var before = await run.GetProgress();
            Assert.Equal(TrainingState.Training, before.State);
            Assert.True(before.Step < Steps, "the run should still be going");
            var host = silos.Single(s => before.Silo!.Contains($":{s.SiloPort}@", StringComparison.Ordinal) || before.Silo.Contains($":{s.SiloPort}:", StringComparison.Ordinal));
            host.Kill();
            var killedAt = DateTimeOffset.UtcNow;
            output.WriteLine($"killed {host.Name} (silo {before.Silo}) at step {before.Step}, checkpoint {before.LatestCheckpointStep}");

            // Nothing calls the run from here on until the registry (another grain) says Done: only its reminder can bring it back.
            var done = await WaitAsync("victim", s => s.State == "Done", TimeSpan.FromMinutes(6));
            var after = await run.GetProgress();
            Assert.Equal(Steps, after.Step);
            Assert.True(after.Resumes >= 1);
            Assert.DoesNotContain($":{host.SiloPort}:", after.Silo!);
            Assert.Equal(expected.Loss!.Value, after.Loss!.Value, 6);
            Assert.Equal(Steps, done.Step);

            // From the kill to the first step the new activation logged (metrics.jsonl stamps every step).
            var lines = System.Text.Encoding.UTF8.GetString((await blobs.TryDownloadAsync(BlobLayout.RunMetrics("victim")))!)
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject());
            var firstResumed = lines.Where(l => l["loss"] is not null && l["time"] is not null)
                .Select(l => (Step: l["step"]!.GetValue<long>(), Time: DateTimeOffset.Parse(l["time"]!.GetValue<string>(), CultureInfo.InvariantCulture)))
                .Where(l => l.Time > killedAt).MinBy(l => l.Time);
            Assert.True(firstResumed.Step > 0, "the new activation logged steps");
            Assert.InRange(firstResumed.Step, 1, before.Step + 1); // it went back to a checkpoint, not ahead
            output.WriteLine($"resumed: first step {firstResumed.Step} logged {(firstResumed.Time - killedAt).TotalSeconds:F1} s after the kill; " +
                             $"done {(DateTimeOffset.UtcNow - killedAt).TotalSeconds:F1} s after it; loss {after.Loss:F6} vs uninterrupted {expected.Loss:F6}");
        }
        catch
        {
            procs.WriteLogs(output);
            throw;
        }
    }

    /// <summary>Waits until the index says every imported video is Embedded.</summary>
    private static async Task WaitIndexAsync(LvMaeClient client, IReadOnlyList<string> ids)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            var entries = await client.Grains.IndexEntriesAsync(ids);
            if (entries.Count == ids.Count && entries.All(e => e.Stage == VideoStage.Embedded)) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{entries.Count(e => e.Stage == VideoStage.Embedded)} of {ids.Count} imported videos embedded");
            await Task.Delay(250);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
