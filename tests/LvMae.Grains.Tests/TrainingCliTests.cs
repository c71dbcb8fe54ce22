using System.Text.Json;
using LvMae.Cli;
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

    [Fact]
    public async Task Train_wait_runs_probe_export_and_retrieve_through_the_cli()
    {
        var settings = new LvMaeSiloSettings
        {
            Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = "training-cli-tests" },
            Clustering = new ClusteringOptions { SiloPort = SiloHostTests.FreePort(), GatewayPort = SiloHostTests.FreePort(), ClusterId = "training-cli", ServiceId = "training-cli" },
            Api = new ApiOptions { Enabled = false },
            Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning },
        };
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

            var (trainCode, trainOut) = await RunAsync("train", "--run", "cli-run", "--preset", "tiny", "--steps", "12", "--batch", "4",
                "--encoder", "cli-synth", "--probe-every", "6", "--checkpoint-every", "6", "--device", "cpu", "--wait");
            Assert.True(trainCode == ExitCodes.Ok, trainOut);
            Assert.Contains("Done step 12/12", trainOut);

            // LVMAE options: a bad value is a usage error naming it, before anything trains.
            var (levelsCode, levelsOut) = await RunAsync("train", "--run", "cli-bad", "--encoder", "cli-synth", "--targets", "fsq", "--fsq-levels", "8,x");
            Assert.Equal(ExitCodes.Usage, levelsCode);
            Assert.Contains("'x' is not a whole number", levelsOut);
            var (decoderCode, decoderOut) = await RunAsync("train", "--run", "cli-bad", "--encoder", "cli-synth", "--decoder", "topk");
            Assert.Equal(ExitCodes.Usage, decoderCode);
            Assert.Contains("unknown decoder masking 'topk'", decoderOut);

            var (runsCode, runsJson) = await RunAsync("runs", "cli-run", "--json");
            Assert.Equal(ExitCodes.Ok, runsCode);
            using (var doc = JsonDocument.Parse(runsJson))
            {
                Assert.Equal("Done", doc.RootElement.GetProperty("state").GetString());
                Assert.True(doc.RootElement.GetProperty("metrics").TryGetProperty("cls/lv-mae/linear", out _), runsJson);
            }

            Assert.Equal(ExitCodes.Ok, (await RunAsync("probe", "--run", "cli-run", "--task", "cls", "--kind", "linear")).Code);
            Assert.Equal(ExitCodes.Failed, (await RunAsync("probe", "--run", "cli-run", "--task", "nope")).Code);

            var outDir = Path.Combine(fixture.MediaDir, "training-cli-export");
            Assert.Equal(ExitCodes.Ok, (await RunAsync("export", "--run", "cli-run", "--out", outDir)).Code);
            Assert.Equal(new long[] { 12, 64 }, NpyArray.Read(Path.Combine(outDir, "cls.npy")).Shape);
            Assert.Equal(new long[] { 12, 64 }, NpyArray.Read(Path.Combine(outDir, "mean.npy")).Shape);
            Assert.Equal(13, File.ReadAllLines(Path.Combine(outDir, "index.csv")).Length);

            Assert.Equal(ExitCodes.Ok, (await RunAsync("retrieve", "--run", "cli-run", "--video", "cli-v00", "--captions", captions)).Code);
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
                "--steps", "2", "--batch", "4", "--contexts", "256", "--json");
            Assert.True(ablateCode == ExitCodes.Ok, ablateOut);
            Assert.Equal(7, JsonDocument.Parse(ablateOut).RootElement.GetArrayLength());   // raw + FSQ summaries + the 5-row default grid (256 tokens only)
            Assert.Equal(ExitCodes.Failed, (await RunAsync("export-embeddings", "--encoder", "never-used", "--out", rawDir)).Code);
        }
    }

    private static float[] Unit(Random rng)
    {
        var v = Enumerable.Range(0, Dim).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var n = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / n).ToArray();
    }
}
