using Azure.Storage.Blobs.Specialized;
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
    /// <summary>
    /// `ingest --container/--source-url` registers blobs where they are (issue 26): by prefix or manifest, with a dry run that
    /// counts, a re-run that registers nothing new, a changed blob refused until asked to re-embed, the data container never
    /// holding a copy, and clear errors for a missing container and a wrong SAS.
    /// </summary>
    [Fact]
    public async Task Ingest_registers_blobs_in_place_and_never_copies_them()
    {
        var settings = Settings("cli-inplace");
        var service = fixture.Azurite.ServiceClient();
        var corpus = service.GetBlobContainerClient("cli-inplace-corpus");
        await corpus.CreateIfNotExistsAsync();
        var dir = Path.Combine(fixture.MediaDir, "inplace");
        Directory.CreateDirectory(dir);
        await TestVideos.GenerateAsync(Path.Combine(dir, "a.mp4"), 6, "testsrc2", size: 32, fps: 5);
        await TestVideos.GenerateAsync(Path.Combine(dir, "b.mkv"), 11, "rgbtestsrc", size: 32, fps: 5);
        await TestVideos.GenerateAsync(Path.Combine(dir, "c.mp4"), 6, "testsrc2", size: 32, fps: 5, options: new TestVideoOptions { HueDegrees = 140 });
        await corpus.GetBlobClient("set1/a.mp4").UploadAsync(Path.Combine(dir, "a.mp4"), overwrite: true);
        await corpus.GetBlobClient("set1/b.mkv").UploadAsync(Path.Combine(dir, "b.mkv"), overwrite: true);
        await corpus.GetBlobClient("set1/notes.txt").UploadAsync(BinaryData.FromString("not a video"), overwrite: true);
        await corpus.GetBlobClient("set2/c.mp4").UploadAsync(Path.Combine(dir, "c.mp4"), overwrite: true);
        var inPlace = new[] { "ingest", "--container", "cli-inplace-corpus", "--prefix", "set1/", "--encoder", "builtin" };

        using (InProcessCli.Target(settings))
        await using (var silo = await LvMaeSiloHost.StartAsync(settings))
        {
            var (dryCode, dry) = await RunAsync([.. inPlace, "--dry-run"]);
            Assert.True(dryCode == ExitCodes.Ok, dry);
            Assert.Contains("new\t2\t", dry);
            Assert.Equal(0, (await LvMae.Contracts.CorpusIndex.SummaryAsync(silo.Grains)).Total);

            var (code, output) = await RunAsync([.. inPlace, "--labels", "alpha"]);
            Assert.True(code == ExitCodes.Ok, output);
            Assert.Contains("2 file(s), 0 failed or not registered", output);
            var aId = InPlaceSources.VideoId(corpus.AccountName, corpus.Name, "set1/a.mp4");
            var a = await silo.Grains.GetGrain<LvMae.Contracts.IVideoGrain>(aId).GetStatus();
            Assert.Equal((LvMae.Contracts.VideoStage.Embedded, "set1/a.mp4", 2), (a.Stage, a.InPlace?.Blob, a.SegmentCount));
            Assert.Contains("alpha", a.Labels);
            // No byte of a source in the data container: only what the silo wrote from it.
            var data = service.GetBlobContainerClient("cli-inplace");
            await foreach (var blob in data.GetBlobsAsync())
                Assert.True(blob.Name.EndsWith("segments.json", StringComparison.Ordinal) || blob.Name.Contains("/embeddings/", StringComparison.Ordinal)
                            || blob.Name.StartsWith(LvMae.Storage.BlobLayout.IndexPrefix, StringComparison.Ordinal), blob.Name);

            // Again: nothing new.
            var (_, again) = await RunAsync([.. inPlace, "--dry-run"]);
            Assert.Contains("new\t0\t", again);
            Assert.Contains("already registered\t2\t", again);
            Assert.Equal(ExitCodes.Ok, (await RunAsync(inPlace)).Code);
            Assert.Equal(2, (await LvMae.Contracts.CorpusIndex.SummaryAsync(silo.Grains)).Total);

            // A blob replaced by other content: refused (the video keeps its embeddings) until asked to re-embed.
            await corpus.GetBlobClient("set1/a.mp4").UploadAsync(Path.Combine(dir, "c.mp4"), overwrite: true);
            Assert.Contains("changed since registered\t1\t", (await RunAsync([.. inPlace, "--dry-run"])).Output);
            var (refusedCode, refused) = await RunAsync(inPlace);
            Assert.Equal(ExitCodes.Failed, refusedCode);
            Assert.Contains("changed since it was registered", refused);
            Assert.Equal(LvMae.Contracts.VideoStage.Embedded, (await silo.Grains.GetGrain<LvMae.Contracts.IVideoGrain>(aId).GetStatus()).Stage);
            var (reCode, re) = await RunAsync([.. inPlace, "--reembed-changed"]);
            Assert.True(reCode == ExitCodes.Ok, re);
            var reembedded = await silo.Grains.GetGrain<LvMae.Contracts.IVideoGrain>(aId).GetStatus();
            Assert.Equal(LvMae.Contracts.VideoStage.Embedded, reembedded.Stage);
            Assert.NotEqual(a.InPlace!.ETag, reembedded.InPlace!.ETag);

            // Another account's container through a SAS URL, only the blobs a manifest names (a missing one is reported, the rest registered).
            var sas = corpus.GenerateSasUri(Azure.Storage.Sas.BlobContainerSasPermissions.Read | Azure.Storage.Sas.BlobContainerSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1)).ToString();
            var manifest = Path.Combine(dir, "manifest.csv");
            await corpus.GetAppendBlobClient("set2/log.mp4").CreateIfNotExistsAsync();
            await File.WriteAllTextAsync(manifest, "blob,split\nset2/c.mp4,train\nset2/missing.mp4,test\nset2/log.mp4,test\n");
            var (sasCode, viaSas) = await RunAsync("ingest", "--source-url", sas, "--manifest", manifest, "--encoder", "builtin");
            Assert.Equal(ExitCodes.Failed, sasCode);
            Assert.Contains("no blob 'set2/missing.mp4'", viaSas);
            Assert.Contains("not a block blob", viaSas);
            Assert.DoesNotContain("sig=", viaSas);
            var c = await silo.Grains.GetGrain<LvMae.Contracts.IVideoGrain>(InPlaceSources.VideoId(corpus.AccountName, corpus.Name, "set2/c.mp4")).GetStatus();
            Assert.Equal((LvMae.Contracts.VideoStage.Embedded, "split=train"), (c.Stage, c.Labels.Single()));
            Assert.Equal(InPlaceSources.StoreKey(corpus.AccountName, corpus.Name), c.InPlace!.Store);

            // Refusals every blob would meet: reported once, exit 4, naming the container; a wrong SAS never replaces the store's.
            var badSas = sas.Replace("sig=", "sig=AAAA", StringComparison.Ordinal);
            var (deniedCode, denied) = await RunAsync("ingest", "--source-url", badSas, "--prefix", "set2/", "--encoder", "builtin");
            Assert.Equal(ExitCodes.Storage, deniedCode);
            Assert.Contains("403", denied);
            Assert.Equal(sas[(sas.IndexOf('?') + 1)..], (await silo.Grains.GetGrain<LvMae.Contracts.ISourceStoreGrain>(c.InPlace.Store).Get())!.SasToken);
            var (missingCode, missing) = await RunAsync("ingest", "--container", "no-such-corpus", "--encoder", "builtin");
            Assert.Equal(ExitCodes.Storage, missingCode);
            Assert.Contains("container does not exist", missing);
            Assert.Equal(ExitCodes.Usage, (await RunAsync("ingest", "--container", "cli-inplace-corpus", Path.Combine(dir, "a.mp4"))).Code);
            Assert.Equal(ExitCodes.Usage, (await RunAsync("ingest", "--source-url", "https://example.com/videos", "--encoder", "builtin")).Code);
        }
    }
}
