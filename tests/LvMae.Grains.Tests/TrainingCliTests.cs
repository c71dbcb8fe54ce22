using System.Text.Json;
using LvMae.Cli;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Silo;

namespace LvMae.Grains.Tests;

/// <summary>`lvmae import-embeddings / train --wait / runs / probe / export --out / retrieve` in-process against one real silo
/// (in the silo-host collection: the CLI tests there share the console and the LVMAE__ environment variables).</summary>
[Collection(SiloHostCollection.Name)]
public sealed class TrainingCliTests(SiloHostFixture fixture)
{
    private const int Dim = 16;

    private static Task<(int Code, string Output)> RunAsync(params string[] args) => InProcessCli.RunAsync(args);

    /// <summary>A silo of its own container and cluster id for one test, API off.</summary>
    private LvMaeSiloSettings Settings(string container, string clusterId) => new()
    {
        Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = container },
        Clustering = new ClusteringOptions { SiloPort = SiloHostTests.FreePort(), GatewayPort = SiloHostTests.FreePort(), ClusterId = clusterId, ServiceId = clusterId },
        Api = new ApiOptions { Enabled = false },
        Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning },
    };

    [Fact]
    public async Task Train_wait_runs_probe_export_and_retrieve_through_the_cli()
    {
        var settings = Settings("training-cli-tests", "training-cli");
        using (InProcessCli.Target(settings))
        {
            // 12 labelled videos (two classes, split column) as .npy files + a labels CSV, and a caption bank.
            var dir = Path.Combine(fixture.MediaDir, "training-cli");
            Directory.CreateDirectory(dir);
            var rng = new Random(5);
            var centres = new[] { Unit(rng), Unit(rng) };
            var csv = new List<string> { "id,cls,split" };
            for (var v = 0; v < 12; v++)
            {
                var segments = 5 + rng.Next(8);
                var data = new float[segments * Dim];
                for (var i = 0; i < data.Length; i++) data[i] = centres[v % 2][i % Dim] + 0.5f * (float)(rng.NextDouble() - 0.5);
                NpyArray.FromFloats(data, segments, Dim).Write(Path.Combine(dir, $"cli-v{v:D2}.npy"));
                csv.Add($"cli-v{v:D2},cls={(v % 2 == 0 ? "a" : "b")},split={(v % 4 < 2 ? "train" : "test")}");
            }
            var labels = Path.Combine(fixture.MediaDir, "training-cli-labels.csv");
            await File.WriteAllLinesAsync(labels, csv);
            var captions = Path.Combine(fixture.MediaDir, "captions.npy");
            NpyArray.FromFloats([.. centres[0], .. centres[1], .. Unit(rng)], 3, Dim).Write(captions);
            await File.WriteAllLinesAsync(Path.ChangeExtension(captions, ".txt"), ["class a scene", "class b scene", "something else"]);

            await using var silo = await LvMaeSiloHost.StartAsync(settings);
            Assert.Equal(ExitCodes.Ok, (await RunAsync("import-embeddings", dir, "--encoder-name", "cli-synth", "--labels", labels)).Code);

            string[] train = ["train", "--run", "cli-run", "--preset", "tiny", "--steps", "12", "--batch", "4", "--encoder", "cli-synth",
                "--probe-every", "6", "--checkpoint-every", "6", "--probe-epochs", "5", "--probe-seeds", "2", "--lr", "2e-3", "--warmup", "2",
                "--max-tokens", "64", "--window", "10..200", "--threads", "1", "--device", "cpu"];
            var (trainCode, trainOut) = await RunAsync([.. train, "--wait"]);
            Assert.True(trainCode == ExitCodes.Ok, trainOut);
            Assert.Contains("Done step 12/12", trainOut);
            Assert.Contains("peak lr 0.002, warm-up 2 steps, cosine to 0 at step 12, batch 4", trainOut);
            Assert.Contains("cls, LV-MAE attentive", trainOut); // a verdict line under the probe table

            // The same name with another config is refused unless --resume; the same config reattaches.
            var (againCode, againOut) = await RunAsync([.. train, "--seed", "5"]);
            Assert.Equal(ExitCodes.Usage, againCode);
            Assert.Contains("exists with another config", againOut);
            Assert.Contains("--resume", againOut);
            var (resumeCode, resumeOut) = await RunAsync([.. train, "--seed", "5", "--resume"]);
            Assert.True(resumeCode == ExitCodes.Ok, resumeOut);
            Assert.Contains(": Done on ", resumeOut); // reattached to the finished run
            Assert.Equal(ExitCodes.Ok, (await RunAsync(train)).Code);

            // LVMAE options: a bad value is a usage error naming it, before anything trains.
            var (levelsCode, levelsOut) = await RunAsync("train", "--run", "cli-bad", "--encoder", "cli-synth", "--targets", "fsq", "--fsq-levels", "8,x");
            Assert.Equal(ExitCodes.Usage, levelsCode);
            Assert.Contains("'x' is not a whole number", levelsOut);
            var (decoderCode, decoderOut) = await RunAsync("train", "--run", "cli-bad", "--encoder", "cli-synth", "--decoder", "topk");
            Assert.Equal(ExitCodes.Usage, decoderCode);
            Assert.Contains("unknown decoder masking 'topk'", decoderOut);

            var (runsCode, runsJson) = await RunAsync("runs", "--json");
            Assert.Equal(ExitCodes.Ok, runsCode);
            using (var doc = JsonDocument.Parse(runsJson))
            {
                var summary = doc.RootElement.EnumerateArray().Single(r => r.GetProperty("name").GetString() == "cli-run");
                Assert.Equal("Done", summary.GetProperty("state").GetString());
                Assert.True(summary.GetProperty("metrics").TryGetProperty("cls/lv-mae/linear", out _), runsJson);
                Assert.Equal(0.002, summary.GetProperty("schedule").GetProperty("peakLr").GetDouble());
                Assert.Equal("10..200", summary.GetProperty("config").GetProperty("window").GetString());
            }
            var (listCode, listOut) = await RunAsync("runs");
            Assert.Equal(ExitCodes.Ok, listCode);
            Assert.Contains("0.002", listOut); // the schedule column (wrapped in a narrow console: the JSON above has the exact values)

            // runs show: config, schedule, the metrics table and the probes; --plot saves the run's plot from storage.
            var plot = Path.Combine(fixture.MediaDir, "cli-run-plot.png");
            var (showCode, showOut) = await RunAsync("runs", "show", "cli-run", "--plot", plot, "--rows", "4");
            Assert.True(showCode == ExitCodes.Ok, showOut);
            Assert.Contains("schedule: peak lr 0.002", showOut);
            Assert.Contains("config: preset tiny, masking random", showOut);
            Assert.Contains("loss (mean since previous row)", showOut);
            Assert.Contains("raw attentive+pos", showOut);
            Assert.Equal(new byte[] { 137, 80, 78, 71 }, (await File.ReadAllBytesAsync(plot))[..4]);
            var (showJsonCode, showJson) = await RunAsync("runs", "show", "cli-run", "--json", "--rows", "3");
            Assert.Equal(ExitCodes.Ok, showJsonCode);
            using (var doc = JsonDocument.Parse(showJson))
            {
                Assert.Equal("Done", doc.RootElement.GetProperty("progress").GetProperty("state").GetString());
                var steps = doc.RootElement.GetProperty("metrics").EnumerateArray().Select(r => r.GetProperty("step").GetInt64()).ToList();
                Assert.Equal([4L, 8, 12], steps);
            }
            Assert.Equal(ExitCodes.Failed, (await RunAsync("runs", "show", "no-such-run")).Code);
            Assert.Equal(ExitCodes.Usage, (await RunAsync("runs", "show", "bad/name")).Code);

            // The weights alone, as the reference names in a safetensors file, equal to the checkpoint's.
            var weights = Path.Combine(fixture.MediaDir, "cli-run.safetensors");
            var (weightsCode, weightsOut) = await RunAsync("export", "--run", "cli-run", "--weights", weights);
            Assert.True(weightsCode == ExitCodes.Ok, weightsOut);
            var progress = await ProgressAsync("cli-run");
            var checkpoint = (await new LvMae.Grains.Training.CheckpointStore(new LvMae.Storage.BlobStore(fixture.Azurite.ConnectionString, "training-cli-tests"), "cli-run")
                .LoadAsync(progress.LatestCheckpointStep)).Checkpoint;
            Assert.Equal(LvMae.Model.Training.Checkpoint.ExtractWeights(checkpoint), await File.ReadAllBytesAsync(weights));
            var file = Safetensors.Read(weights);
            Assert.Contains("blocks.0.attn.qkv.weight", file.Tensors.Keys);
            Assert.Contains("\"InputScaling\": \"SqrtDim\"", file.Metadata[LvMae.Model.ModelWeights.ConfigMetadataKey]);

            Assert.Equal(ExitCodes.Ok, (await RunAsync("probe", "--run", "cli-run", "--task", "cls", "--kind", "linear")).Code);
            Assert.Equal(ExitCodes.Failed, (await RunAsync("probe", "--run", "cli-run", "--task", "nope")).Code);

            var outDir = Path.Combine(fixture.MediaDir, "training-cli-export");
            Assert.Equal(ExitCodes.Ok, (await RunAsync("export", "--run", "cli-run", "--out", outDir)).Code);
            Assert.Equal(new long[] { 12, 64 }, NpyArray.Read(Path.Combine(outDir, "cls.npy")).Shape);
            Assert.Equal(new long[] { 12, 64 }, NpyArray.Read(Path.Combine(outDir, "mean.npy")).Shape);
            Assert.Equal(13, File.ReadAllLines(Path.Combine(outDir, "index.csv")).Length);

            var (retrieveCode, retrieved) = await RunAsync("retrieve", "--run", "cli-run", "--video", "cli-v00", "--captions", captions);
            Assert.True(retrieveCode == ExitCodes.Ok, retrieved);
            // Retrieval masks the paper's 40% whatever the run trained with (here the default random 60%): one row per masked segment.
            var length = (int)NpyArray.Read(Path.Combine(dir, "cli-v00.npy")).Shape[0];
            var rows = retrieved.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s*\d+\s"));
            Assert.Equal(LvMae.Model.Masking.MaskingStrategies.MaskedCount(length, LvMae.Model.Retrieval.ReconstructionRetrieval.EvaluationMaskRatio), rows);
            Assert.NotEqual(LvMae.Model.Masking.MaskingStrategies.MaskedCount(length, TrainingRunConfig.DefaultRandomMaskRatio), rows);
            Assert.Equal(ExitCodes.Failed, (await RunAsync("export", "--run", "no-such-run")).Code);

            // Segment embeddings out again, byte for byte, with a labels CSV that import-embeddings and ablate read.
            var rawDir = Path.Combine(fixture.MediaDir, "training-cli-raw");
            var (rawCode, rawOut) = await RunAsync("export-embeddings", "--encoder", "cli-synth", "--out", rawDir);
            Assert.True(rawCode == ExitCodes.Ok, rawOut);
            Assert.Contains("exported 12 videos (d = 16)", rawOut);
            for (var v = 0; v < 12; v++)
                Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(dir, $"cli-v{v:D2}.npy")), await File.ReadAllBytesAsync(Path.Combine(rawDir, $"cli-v{v:D2}.npy")));
            var rawLabels = await File.ReadAllLinesAsync(Path.Combine(rawDir, "labels.csv"));
            Assert.Equal("videoId,cls,split", rawLabels[0]);
            Assert.Contains("cli-v01,b,train", rawLabels);
            var (ablateCode, ablateOut) = await RunAsync("ablate", "--embeddings", rawDir, "--labels", Path.Combine(rawDir, "labels.csv"), "--label-column", "cls",
                "--steps", "2", "--batch", "4", "--contexts", "256", "--pretrain-seeds", "2", "--json");
            Assert.True(ablateCode == ExitCodes.Ok, ablateOut);
            var ablation = JsonDocument.Parse(ablateOut).RootElement;
            Assert.Equal(10, ablation.GetArrayLength());   // majority, raw, raw+pos, step 0, FSQ + the 5-row default grid (256 tokens only)
            Assert.Equal(2, ablation[5].GetProperty("attentivePositions").GetProperty("seeds").GetInt32()); // over the 2 pre-training seeds
            Assert.Equal(ExitCodes.Failed, (await RunAsync("export-embeddings", "--encoder", "never-used", "--out", rawDir)).Code);

            // Lifecycle: a long run stopped, resumed and deleted from the CLI.
            Assert.Equal(ExitCodes.Ok, (await RunAsync("train", "--run", "cli-long", "--preset", "tiny", "--steps", "1000000", "--batch", "4", "--encoder", "cli-synth",
                "--probe-every", "-1", "--checkpoint-every", "100000", "--device", "cpu")).Code);
            var (stopCode, stopOut) = await RunAsync("runs", "stop", "cli-long");
            Assert.True(stopCode == ExitCodes.Ok, stopOut);
            Assert.Contains("stopping run 'cli-long'", stopOut);
            var stopped = await UntilAsync("cli-long", p => p.State == TrainingState.Stopped);
            Assert.True(stopped.LatestCheckpointStep > 0);
            var (resumeLongCode, resumeLongOut) = await RunAsync("runs", "resume", "cli-long");
            Assert.True(resumeLongCode == ExitCodes.Ok, resumeLongOut);
            Assert.Contains($"run 'cli-long' is training from step {stopped.LatestCheckpointStep}", resumeLongOut);
            var (deleteCode, deleteOut) = await RunAsync("runs", "delete", "cli-long");
            Assert.True(deleteCode == ExitCodes.Ok, deleteOut);
            Assert.Equal(ExitCodes.Failed, (await RunAsync("runs", "show", "cli-long")).Code);
            Assert.Equal(ExitCodes.Failed, (await RunAsync("runs", "stop", "cli-long")).Code);
        }
    }

    [Fact]
    public async Task The_order_benchmark_goes_through_the_product_path_synth_import_train_probe()
    {
        var settings = Settings("order-benchmark-tests", "order-cli");
        using (InProcessCli.Target(settings))
        {
            var dir = Path.Combine(fixture.MediaDir, "order-benchmark");
            var (synthCode, synthOut) = await RunAsync("synth-embeddings", "--out", dir, "--videos", "24", "--classes", "2", "--steps", "3", "--dim", "16");
            Assert.True(synthCode == ExitCodes.Ok, synthOut);
            Assert.Contains("wrote 24 videos (18 train, 6 test;", synthOut);
            Assert.Equal(ExitCodes.Usage, (await RunAsync("synth-embeddings", "--out", dir, "--classes", "4", "--steps", "4")).Code);

            await using var silo = await LvMaeSiloHost.StartAsync(settings);
            Assert.Equal(ExitCodes.Ok, (await RunAsync("import-embeddings", dir, "--labels", Path.Combine(dir, "labels.csv"), "--encoder-name", "order")).Code);
            var (trainCode, trainOut) = await RunAsync("train", "--run", "order", "--encoder", "order", "--preset", "tiny", "--steps", "20", "--probe-every", "0",
                "--probe-epochs", "3", "--probe-seeds", "2", "--device", "cpu", "--wait");
            Assert.True(trainCode == ExitCodes.Ok, trainOut);
            Assert.Contains("schedule: peak lr 0.001, warm-up 2 steps", trainOut); // the library's defaults
            var (probeCode, probeOut) = await RunAsync("probe", "--run", "order", "--task", "activity", "--kind", "attentive");
            Assert.True(probeCode == ExitCodes.Ok, probeOut);
            // The verdict line (under the table) compares with the majority baseline and both raw baselines.
            var verdict = probeOut.Split('\n').Single(l => l.StartsWith("activity, LV-MAE attentive ", StringComparison.Ordinal));   // not the attentive+pos line
            Assert.Contains("(majority ", verdict);
            Assert.Contains("; raw attentive ", verdict);
            Assert.Contains("; raw attentive+pos ", verdict);
            var progress = await ProgressAsync("order");
            var lvmae = Assert.Single(progress.Probes, p => p.Column == "activity" && p.Features == "lv-mae" && p.Probe == "attentive");
            Assert.Equal((18, 6, 2), (lvmae.Train, lvmae.Test, lvmae.Seeds)); // the labels' split column: 18 train, 6 test
        }
    }

    private static async Task<TrainingProgress> ProgressAsync(string run)
    {
        var (code, json) = await RunAsync("runs", "show", run, "--json");
        Assert.True(code == ExitCodes.Ok, json);
        return JsonSerializer.Deserialize<TrainingProgress>(JsonDocument.Parse(json).RootElement.GetProperty("progress").GetRawText(), global::LvMae.Cli.CommandLine.Json)!;
    }

    /// <summary>Polls `runs show --json` until the condition holds (three minutes at most: a loaded 2-core machine is slow).</summary>
    private static async Task<TrainingProgress> UntilAsync(string run, Func<TrainingProgress, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            var p = await ProgressAsync(run);
            if (condition(p)) return p;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"run {run}: {p.State} step {p.Step}");
            await Task.Delay(200);
        }
    }

    private static float[] Unit(Random rng)
    {
        var v = Enumerable.Range(0, Dim).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var n = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / n).ToArray();
    }
}
