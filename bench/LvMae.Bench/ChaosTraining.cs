using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LvMae.Grains.Training;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// The training trials of the chaos harness, through the product path: `lvmae synth-embeddings` + `lvmae import-embeddings`
/// (no video decoding), `lvmae train` (CLI -> TrainingRunGrain -> feed -> trainer) on three silo processes, faults while the
/// run trains: storage stopped 10 s and 120 s (30 s quick), the silo hosting the run SIGKILLed (started again 5 s later).
/// After each: the run reaches its final step with no manual resume (state Done), every checkpoint verifies (SHA-256), and
/// the loss logged at the final step equals that of the same run without a fault (CPU, one libtorch thread, same seed: a run
/// resumed from a checkpoint replays the same batches with the same RNG state, so the equality is exact). After a kill only
/// the run's reminder can bring it back: nothing calls the run until the registry says Done.
/// </summary>
public static class ChaosTraining
{
    private const string Encoder = "synth";
    private static readonly TimeSpan StepDelay = TimeSpan.FromMilliseconds(100);

    public sealed record Trial(string Scenario, int Faults, string State, long Step, long TotalSteps, double? Loss, double? ReferenceLoss,
        int Checkpoints, int CheckpointsVerified, int UploadsFailed, int Resumes, int StepsDuringFault, double? RecoverySeconds, double Seconds, string Notes)
    {
        public double? LossDifference => Loss is { } l && ReferenceLoss is { } r ? Math.Abs(l - r) : null;
        public bool Ok => State == "Done" && Step == TotalSteps && Checkpoints == CheckpointsVerified && LossDifference is <= 1e-6;
    }

    private delegate Task<(int Faults, DateTimeOffset Began, DateTimeOffset Ended, string Note)> Fault(ChaosCluster cluster, HttpClient http, string run);

    public static async Task<IReadOnlyList<Trial>> RunAsync(AzuriteFixture azurite, string work, bool quick)
    {
        var steps = quick ? 400 : 1600; // about 60 s (240 s): the long outage ends well before the run
        var longOutage = TimeSpan.FromSeconds(quick ? 30 : 120);
        await using var cluster = await StartWithEmbeddingsAsync(azurite, work, steps);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var reference = await TrialAsync(cluster, http, "tr-ref", "no fault (the reference run)", steps, null, null);
        var trials = new List<Trial> { reference };
        foreach (var outage in new[] { TimeSpan.FromSeconds(10), longOutage })
            trials.Add(await TrialAsync(cluster, http, $"tr-out{outage.TotalSeconds:F0}", $"storage stopped {outage.TotalSeconds:F0} s while training", steps, reference.Loss,
                (c, h, run) => OutageAsync(c, h, run, steps / 10, outage)));
        trials.Add(await TrialAsync(cluster, http, "tr-kill", "SIGKILL the silo hosting the run (started again 5 s later)", steps, reference.Loss,
            (c, h, run) => KillHostAsync(c, h, run, steps * 2 / 5)));
        return trials;
    }

    /// <summary>
    /// Issue 28's training trials: the reference run, then <paramref name="kills"/> runs during which Azurite is SIGKILLed at a
    /// random step (it comes back without what it acknowledged since its last metadata save: checkpoints, metrics commits,
    /// the run's state, membership rows) and started again on its data folder <paramref name="down"/> later.
    /// </summary>
    public static async Task<IReadOnlyList<Trial>> StorageKillAsync(AzuriteFixture azurite, string work, int kills, TimeSpan down, Random rng)
    {
        const int steps = 1600;
        await using var cluster = await StartWithEmbeddingsAsync(azurite, work, steps);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var reference = await TrialAsync(cluster, http, "tr-ref", "no fault (the reference run)", steps, null, null);
        var trials = new List<Trial> { reference };
        for (var i = 1; i <= kills; i++)
        {
            var at = (long)(steps * (0.1 + 0.5 * rng.NextDouble()));
            trials.Add(await TrialAsync(cluster, http, $"tr-crash{i}", $"storage SIGKILLed while training (back {down.TotalSeconds:F0} s later)", steps, reference.Loss,
                (c, h, run) => CrashAsync(c, h, run, at, down)));
        }
        return trials;
    }

    /// <summary>Three silo processes with <see cref="StepDelay"/> and 48 imported synthetic videos to train on.</summary>
    private static async Task<ChaosCluster> StartWithEmbeddingsAsync(AzuriteFixture azurite, string work, long steps)
    {
        var name = $"chaostr-{Guid.NewGuid():N}"[..14];
        Console.WriteLine($"chaos: training trials ({steps} steps a run, {StepDelay.TotalMilliseconds:F0} ms pause a step)");
        var cluster = await ChaosCluster.StartAsync(azurite, name, work, extra: new Dictionary<string, string>
        {
            ["Training__StepDelay"] = StepDelay.ToString("c", CultureInfo.InvariantCulture), // a run lasts long enough for the faults
        });
        try
        {
            var npys = Path.Combine(work, $"{name}-npys");
            var synth = await cluster.CliAsync("synth-embeddings", "--out", npys, "--videos", "48", "--classes", "4", "--steps", "5", "--dim", "64", "--seed", "17");
            if (synth.Code != 0) throw new InvalidOperationException($"synth-embeddings failed: {CliProcess.Tail(synth.Output, 3)}");
            var import = await cluster.CliAsync("import-embeddings", npys, "--labels", Path.Combine(npys, "labels.csv"), "--encoder-name", Encoder);
            if (import.Code != 0) throw new InvalidOperationException($"import-embeddings failed: {CliProcess.Tail(import.Output, 3)}");
            await Task.Delay(TimeSpan.FromSeconds(15)); // past Azurite's metadata saves: a crash in a trial must not take the corpus with it
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private static async Task<Trial> TrialAsync(ChaosCluster cluster, HttpClient http, string run, string scenario, long steps, double? referenceLoss, Fault? fault)
    {
        Console.WriteLine($"chaos: training trial {run}: {scenario}");
        var watch = Stopwatch.StartNew();
        var train = await cluster.CliAsync("train", "--run", run, "--preset", "tiny", "--encoder", Encoder, "--steps", $"{steps}", "--checkpoint-every", "50",
            "--batch", "8", "--max-tokens", "64", "--probe-every", "-1", "--seed", "7", "--device", "cpu", "--threads", "1");
        if (train.Code != 0)
            return new Trial(scenario, 0, "not started", 0, steps, null, referenceLoss, 0, 0, 0, 0, 0, null, watch.Elapsed.TotalSeconds, $"train exit {train.Code}: {CliProcess.Tail(train.Output, 2)}");
        var injected = fault?.Invoke(cluster, http, run);

        // Only the registry is asked (GET /runs/{name}): a call to the run itself would activate it, doing the reminder's work.
        var deadline = DateTime.UtcNow.AddMinutes(20);
        JsonElement? summary = null;
        while (DateTime.UtcNow < deadline)
        {
            summary = await RegistryAsync(cluster, http, run) ?? summary;
            if (summary?.GetProperty("state").GetString() is "Done" or "Failed" && (injected is null || injected.IsCompleted)) break;
            await Task.Delay(500);
        }
        var seconds = watch.Elapsed.TotalSeconds;
        var (faults, began, ended, note) = injected is null ? (0, DateTimeOffset.MinValue, DateTimeOffset.MinValue, "") : await injected;

        var blobs = new BlobStore(cluster.Azurite.ConnectionString, cluster.Name);
        var (logged, uploadsFailed) = await MetricsAsync(blobs, run);
        // Done (or given up on): asking the run itself now changes nothing.
        var resumes = (await FirstAnswerAsync(cluster, http, $"runs/{run}/progress"))?.GetProperty("resumes").GetInt32() ?? -1;
        var last = logged.Count == 0 ? default : logged.MaxBy(s => (s.Step, s.Time));
        var store = new CheckpointStore(blobs, run);
        var (checkpoints, verified) = (0, 0);
        foreach (var entry in await store.ListAsync())
        {
            checkpoints++;
            try { await store.LoadAsync(long.Parse(entry.Metadata[CheckpointStore.StepMetadata], CultureInfo.InvariantCulture)); verified++; }
            catch (InvalidDataException) { }
        }
        double? recovery = faults == 0 ? null
            : logged.Where(s => s.Time > ended).Select(s => (double?)(s.Time - ended).TotalSeconds).Min();
        var during = logged.Count(s => s.Time >= began && s.Time <= ended);
        var state = summary?.GetProperty("state").GetString() ?? "unknown";
        var trial = new Trial(scenario, faults, state, last.Step, steps, logged.Count == 0 ? null : last.Loss, referenceLoss ?? (logged.Count == 0 ? null : last.Loss),
            checkpoints, verified, uploadsFailed, resumes, during, recovery, seconds, note);
        Console.WriteLine($"chaos: training trial {run}: {state} at step {trial.Step}/{steps}, loss {trial.Loss:F6} (reference {trial.ReferenceLoss:F6}), " +
                          $"{verified}/{checkpoints} checkpoints verify, {uploadsFailed} uploads failed, {resumes} resumes, {during} steps during the fault, recovery {recovery:F1} s ({note})");
        return trial;
    }

    // ---- faults -------------------------------------------------------------------------------------------------------------

    private static async Task<(int, DateTimeOffset, DateTimeOffset, string)> OutageAsync(ChaosCluster cluster, HttpClient http, string run, long atStep, TimeSpan length)
    {
        var step = await WaitStepAsync(cluster, http, run, atStep);
        var began = DateTimeOffset.UtcNow;
        await cluster.Azurite.StopAsync();
        await Task.Delay(length);
        await cluster.Azurite.StartAsync();
        return (1, began, DateTimeOffset.UtcNow, $"storage down at step {step} for {length.TotalSeconds:F0} s");
    }

    private static async Task<(int, DateTimeOffset, DateTimeOffset, string)> CrashAsync(ChaosCluster cluster, HttpClient http, string run, long atStep, TimeSpan down)
    {
        var step = await WaitStepAsync(cluster, http, run, atStep);
        var began = DateTimeOffset.UtcNow;
        cluster.Azurite.Crash();
        await Task.Delay(down);
        await cluster.Azurite.StartAsync();
        return (1, began, DateTimeOffset.UtcNow, $"storage SIGKILLed at step {step}, back {down.TotalSeconds:F0} s later");
    }

    private static async Task<(int, DateTimeOffset, DateTimeOffset, string)> KillHostAsync(ChaosCluster cluster, HttpClient http, string run, long atStep)
    {
        await WaitStepAsync(cluster, http, run, atStep);
        // The run is active now: asking it where it runs does not bring anything back.
        var progress = await FirstAnswerAsync(cluster, http, $"runs/{run}/progress");
        var silo = progress?.GetProperty("silo").GetString() ?? throw new InvalidOperationException($"run {run}: no progress to say where it runs");
        var host = cluster.Live.Single(s => silo.Contains($":{s.SiloPort}:", StringComparison.Ordinal));
        var step = progress.Value.GetProperty("step").GetInt64();
        host.Kill();
        var killed = DateTimeOffset.UtcNow;
        await Task.Delay(TimeSpan.FromSeconds(5));
        await cluster.StartSiloAsync();
        return (1, killed, killed, $"killed {host.Name} (hosting the run) at step {step}");
    }

    // ---- reading what the cluster says ------------------------------------------------------------------------------------

    /// <summary>Waits until the registry says the run has passed <paramref name="step"/>; throws when it never does.</summary>
    private static async Task<long> WaitStepAsync(ChaosCluster cluster, HttpClient http, string run, long step)
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            var summary = await RegistryAsync(cluster, http, run);
            if (summary is { } s && s.GetProperty("step").GetInt64() is var now && now >= step) return now;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"run {run} never reached step {step} (registry: {summary})");
            await Task.Delay(250);
        }
    }

    private static Task<JsonElement?> RegistryAsync(ChaosCluster cluster, HttpClient http, string run) => FirstAnswerAsync(cluster, http, $"runs/{run}");

    /// <summary>The first live silo's answer to GET <paramref name="path"/> (null while none answers).</summary>
    private static async Task<JsonElement?> FirstAnswerAsync(ChaosCluster cluster, HttpClient http, string path)
    {
        foreach (var silo in cluster.Live)
            try { return await http.GetFromJsonAsync<JsonElement>(new Uri(silo.Api, path)); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException) { }
        return null;
    }

    /// <summary>metrics.jsonl: the step lines with the time each was logged (a resumed run logs the replayed steps again), and
    /// how many checkpoints were not uploaded (checkpoint_error lines: storage was down).</summary>
    private static async Task<(List<(long Step, double Loss, DateTimeOffset Time)> Steps, int UploadsFailed)> MetricsAsync(BlobStore blobs, string run)
    {
        var bytes = await blobs.TryDownloadAsync(BlobLayout.RunMetrics(run));
        var (steps, failed) = (new List<(long, double, DateTimeOffset)>(), 0);
        foreach (var line in (bytes is null ? "" : Encoding.UTF8.GetString(bytes)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (JsonNode.Parse(line) is not JsonObject o) continue;
            if (o["checkpoint_error"] is not null) failed++;
            else if (o["loss"] is { } loss && o["step"] is { } step && o["time"] is { } time)
                steps.Add((step.GetValue<long>(), loss.GetValue<double>(), DateTimeOffset.Parse(time.GetValue<string>(), CultureInfo.InvariantCulture)));
        }
        return (steps, failed);
    }

    // ---- the report ---------------------------------------------------------------------------------------------------------

    public static string Report(IReadOnlyList<Trial> trials)
    {
        var md = new StringBuilder();
        md.AppendLine();
        md.AppendLine("### Training trials");
        md.AppendLine();
        md.AppendLine($"`lvmae synth-embeddings` (48 videos, 64-d) + `lvmae import-embeddings`, then per trial `lvmae train --preset tiny --steps {trials[0].TotalSteps} " +
                      "--checkpoint-every 50 --batch 8 --max-tokens 64 --seed 7 --device cpu --threads 1` on the same 3 silo processes (a 100 ms pause a step, " +
                      "`LvMae:Training:StepDelay`, so faults land mid-run); nothing resumes a run by hand: after a kill only its reminder (1 min) brings it back. " +
                      "Loss: the loss logged at the final step against the same run without a fault (CPU, one thread: resuming replays the same batches " +
                      "and RNG from the checkpoint, so it is exact). Steps during the fault: steps the run logged while storage was down (it trains on from its cached embeddings). " +
                      "Recovery: from the end of the fault (the kill) to the first step the run logged after it. " +
                      "Uploads failed: checkpoints the run could not store (it stores the next one; a checkpoint still waiting when a newer one comes is replaced, not counted); resumes: " +
                      "activations that continued the run from a checkpoint.");
        md.AppendLine();
        md.AppendLine("| scenario | faults | state | final step | loss at the final step | uninterrupted | difference | checkpoints verified | uploads failed | resumes | steps during the fault | recovery s | trial s | notes |");
        md.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var t in trials)
            md.AppendLine($"| {t.Scenario} | {t.Faults} | {t.State} | {t.Step}/{t.TotalSteps} | {t.Loss?.ToString("F6", CultureInfo.InvariantCulture) ?? "-"} | " +
                          $"{t.ReferenceLoss?.ToString("F6", CultureInfo.InvariantCulture) ?? "-"} | {t.LossDifference?.ToString("G3", CultureInfo.InvariantCulture) ?? "-"} | " +
                          $"{t.CheckpointsVerified}/{t.Checkpoints} | {t.UploadsFailed} | {t.Resumes} | {(t.Faults == 0 ? "-" : t.StepsDuringFault.ToString(CultureInfo.InvariantCulture))} | {t.RecoverySeconds?.ToString("F0", CultureInfo.InvariantCulture) ?? "-"} | {t.Seconds:F0} | {t.Notes.Replace("|", "/")} |");
        md.AppendLine();
        md.AppendLine($"**Training: {trials.Count} trials, {trials.Sum(t => t.Faults)} faults, {trials.Count(t => t.Ok)} reached their final step with every checkpoint " +
                      $"verified and the uninterrupted loss (within 1e-6), {trials.Count(t => !t.Ok)} did not.**");
        return md.ToString();
    }
}
