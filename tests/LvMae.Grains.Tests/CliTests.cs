using System.Text.Json;
using LvMae.Cli;
using LvMae.Client;
using LvMae.Silo;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>The `lvmae` commands, in-process, against a real silo (configuration through LVMAE__... environment variables, as ./lvmae gets it).</summary>
[Collection(SiloHostCollection.Name)]
public sealed class CliTests(SiloHostFixture fixture)
{
    private static Task<(int Code, string Output)> RunAsync(params string[] args) => InProcessCli.RunAsync(args);

    /// <summary>A silo of its own (container, cluster and service named <paramref name="name"/>) on the fixture's Azurite.</summary>
    private LvMaeSiloSettings Settings(string name) => new()
    {
        Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = name },
        Clustering = new ClusteringOptions { SiloPort = SiloHostTests.FreePort(), GatewayPort = SiloHostTests.FreePort(), ClusterId = name, ServiceId = name },
        Api = new ApiOptions { Port = 0 },
        Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning },
    };

    [Fact]
    public async Task Ingest_status_runs_and_no_silo()
    {
        var settings = Settings("cli-tests");
        using (InProcessCli.Target(settings))
        {
            var dir = Path.Combine(fixture.MediaDir, "cli");
            Directory.CreateDirectory(dir);
            await TestVideos.GenerateAsync(Path.Combine(dir, "a.mp4"), 6, "testsrc2", size: 32, fps: 5);
            await TestVideos.GenerateAsync(Path.Combine(dir, "b.mkv"), 11, "rgbtestsrc", size: 32, fps: 5);
            await File.WriteAllBytesAsync(Path.Combine(dir, "c.mp4"), new byte[2000]);
            await File.WriteAllTextAsync(Path.Combine(dir, "notes.txt"), "ignored");
            var labels = Path.Combine(fixture.MediaDir, "cli-labels.csv");
            await File.WriteAllTextAsync(labels, "file,label\na.mp4,alpha\nb.mkv,beta\nc.mp4,alpha\n");

            await using (var silo = await LvMaeSiloHost.StartAsync(settings))
            {
                var (code, _) = await RunAsync("ingest", dir, "--encoder", "builtin", "--labels", labels);
                Assert.Equal(ExitCodes.Failed, code); // c.mp4 is not a video

                var (statusCode, json) = await RunAsync("status", "--json");
                Assert.Equal(ExitCodes.Ok, statusCode);
                using var doc = JsonDocument.Parse(json);
                var summary = doc.RootElement.GetProperty("summary");
                Assert.Equal(3, summary.GetProperty("total").GetInt32());
                Assert.Equal(2, summary.GetProperty("byStage").GetProperty("Embedded").GetInt32());
                Assert.Equal(2, summary.GetProperty("byLabel").GetProperty("alpha").GetInt32());
                var failure = Assert.Single(doc.RootElement.GetProperty("failures").EnumerateArray());
                Assert.Equal("c.mp4", failure.GetProperty("originalName").GetString());
                var failedId = failure.GetProperty("id").GetString()!;

                var (oneCode, one) = await RunAsync("status", failedId, "--json");
                Assert.Equal(ExitCodes.Ok, oneCode);
                Assert.Equal("Failed", JsonDocument.Parse(one).RootElement.GetProperty("stage").GetString());

                var (listCode, list) = await RunAsync("status", "--label", "beta", "--json");
                Assert.Equal(ExitCodes.Ok, listCode);
                Assert.Equal(1, JsonDocument.Parse(list).RootElement.GetProperty("matching").GetInt32());

                Assert.Equal(ExitCodes.Usage, (await RunAsync("status", "bad id")).Code);
                Assert.Equal(ExitCodes.Usage, (await RunAsync("status", "--state", "Bogus")).Code);
                Assert.Equal(ExitCodes.Failed, (await RunAsync("status", "v-unknown")).Code);
                Assert.Equal(ExitCodes.Ok, (await RunAsync("runs")).Code);
                Assert.Equal(ExitCodes.Failed, (await RunAsync("runs", "nope")).Code);

                // Ingesting again changes nothing.
                Assert.Equal(ExitCodes.Failed, (await RunAsync("ingest", dir, "--encoder", "builtin", "--labels", labels)).Code);
                var (_, again) = await RunAsync("status", "--json");
                Assert.Equal(3, JsonDocument.Parse(again).RootElement.GetProperty("summary").GetProperty("total").GetInt32());
            }

            Assert.Equal(ExitCodes.NoSilo, (await RunAsync("status")).Code);
        }
    }

    /// <summary>
    /// A storage that crashed can come back without a source blob it had acknowledged; the video then fails on it (kind
    /// FileNotFound). The ingest that has the file uploads it again and retries the video, so the corpus does not keep a
    /// failure storage caused (issue 28). Set up here by registering the video with no source uploaded.
    /// </summary>
    [Fact]
    public async Task Ingest_uploads_again_a_source_blob_storage_lost_and_the_video_embeds()
    {
        var settings = Settings("cli-restore");
        var path = Path.Combine(fixture.MediaDir, "cli-restore.mp4");
        await TestVideos.GenerateAsync(path, 6, "testsrc2", size: 32, fps: 5, options: new TestVideoOptions { HueDegrees = 77 });
        var (id, sha) = await VideoIngestor.ContentIdAsync(path);
        using (InProcessCli.Target(settings))
        await using (var silo = await LvMaeSiloHost.StartAsync(settings))
        {
            var grain = silo.Grains.GetGrain<LvMae.Contracts.IVideoGrain>(id);
            await grain.Register(new LvMae.Contracts.VideoRegistration
            {
                Kind = LvMae.Contracts.VideoSourceKind.VideoFile,
                SourceBlob = LvMae.Storage.BlobLayout.Source(id, ".mp4"),
                Encoder = "builtin",
                OriginalName = "cli-restore.mp4",
                SizeBytes = new FileInfo(path).Length,
                ContentHash = sha,
            });
            var deadline = DateTime.UtcNow.AddMinutes(2);
            LvMae.Contracts.VideoStatus status;
            while ((status = await grain.GetStatus()).Stage != LvMae.Contracts.VideoStage.Failed && DateTime.UtcNow < deadline) await Task.Delay(200);
            Assert.Equal(LvMae.Contracts.VideoFailure.SourceMissingKind, status.Failure?.Kind);

            var (code, output) = await RunAsync("ingest", path, "--encoder", "builtin");
            Assert.True(code == ExitCodes.Ok, output);
            Assert.Contains("0 failed or not registered", output);
            Assert.Equal(LvMae.Contracts.VideoStage.Embedded, (await grain.GetStatus()).Stage);
        }
    }
}
