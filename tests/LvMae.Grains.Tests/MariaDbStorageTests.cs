using System.Net.Http.Json;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using LvMae.Formats;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>One Azurite whose blob metadata lives in a private MariaDB server (AZURITE_DB), for a test class.</summary>
public sealed class MariaDbAzuriteFixture : IAsyncLifetime
{
    public AzuriteFixture Azurite { get; } = new() { MariaDb = true };
    public Task InitializeAsync() => Azurite.InitializeAsync();
    public Task DisposeAsync() => Azurite.DisposeAsync();
}

/// <summary>
/// The whole system on Azurite with its blob metadata in MariaDB (issue 26, item 2): a silo process on table membership,
/// the `lvmae` CLI as its own process ingesting videos and importing embeddings, the index checked, the silo restarted
/// (every shard reloads its log from storage) and checked again. Also what that storage cannot do (Append Block: a real
/// 501), reported once instead of waited on (item 3).
/// </summary>
public sealed class MariaDbStorageTests(MariaDbAzuriteFixture fixture, Xunit.Abstractions.ITestOutputHelper log) : IClassFixture<MariaDbAzuriteFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-mariadb-").FullName;
    private AzuriteFixture Azurite => fixture.Azurite;

    [Fact]
    public async Task A_silo_on_azurite_over_mariadb_ingests_and_imports_and_its_index_survives_a_restart()
    {
        var cluster = $"maria-{Guid.NewGuid():N}"[..16];
        var env = ExternalSilo.TableClusterSettings(Azurite.ConnectionString, cluster);
        env["Logging__MinimumLevel"] = "Information";
        var videos = Directory.CreateDirectory(Path.Combine(_dir, "videos")).FullName;
        for (var i = 0; i < 3; i++)
            await TestVideos.GenerateAsync(Path.Combine(videos, $"clip{i}.mp4"), 6 + 2 * i, "testsrc2", size: 32, fps: 5,
                options: new TestVideoOptions { HueDegrees = 40 * i });
        var npys = Directory.CreateDirectory(Path.Combine(_dir, "npy")).FullName;
        for (var i = 0; i < 4; i++)
        {
            var rng = new Random(i);
            var values = Enumerable.Range(0, 12 * 16).Select(_ => (float)rng.NextDouble()).ToArray();
            NpyArray.FromFloats(values, 12, 16).Write(Path.Combine(npys, $"emb{i}.npy"));
        }
        var cli = new CliProcess(_dir, CliProcess.Settings(env));

        var silo = await ExternalSilo.StartAsync("maria-silo", env, _dir);
        try
        {
            var ingest = await cli.RunAsync("ingest", videos, "--encoder", "builtin");
            Assert.True(ingest.Code == 0, $"ingest exit {ingest.Code}: {ingest.Output}\nsilo: {ExternalSilo.Tail(silo.LogPath, 60)}");
            var import = await cli.RunAsync("import-embeddings", npys);
            Assert.True(import.Code == 0, $"import exit {import.Code}: {import.Output}");
            await AssertIndexAsync(silo, cli, embedded: 7);
        }
        finally
        {
            await silo.StopAsync();
        }

        // The shard logs are block blobs on this storage (Append Block is not served here).
        var container = Azurite.ServiceClient().GetBlobContainerClient(cluster);
        var logs = new List<BlobItem>();
        await foreach (var b in container.GetBlobsAsync(new GetBlobsOptions { Prefix = BlobLayout.IndexPrefix }))
            if (b.Name.Contains(".log", StringComparison.Ordinal)) logs.Add(b);
        Assert.NotEmpty(logs);
        Assert.All(logs, b => Assert.Equal(BlobType.Block, b.Properties.BlobType));

        // A new silo reads every shard back from storage (MariaDB-held metadata) and finds the same index.
        var again = await ExternalSilo.StartAsync("maria-silo-2", env, _dir);
        try { await AssertIndexAsync(again, cli, embedded: 7); }
        finally { await again.StopAsync(); }
    }

    private static async Task AssertIndexAsync(ExternalSilo silo, CliProcess cli, int embedded)
    {
        using var http = new HttpClient { BaseAddress = silo.Api };
        using var response = await http.GetAsync("corpus/summary");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET corpus/summary: {(int)response.StatusCode} {body}\nsilo: {ExternalSilo.Tail(silo.LogPath, 60)}");
        var summary = JsonDocument.Parse(body).RootElement;
        Assert.Equal(embedded, summary.GetProperty("total").GetInt32());
        Assert.Equal(embedded, summary.GetProperty("byStage").GetProperty("Embedded").GetInt32());
        var check = await cli.RunAsync("index", "check");
        Assert.True(check.Code == 0, $"index check exit {check.Code}: {check.Output}");
        var verify = await cli.RunAsync("verify");
        Assert.True(verify.Code == 0, $"verify exit {verify.Code}: {verify.Output}");
    }

    [Fact]
    public async Task Append_block_is_a_real_501_here_classified_permanent_and_naming_the_operation_and_blob()
    {
        var store = new BlobStore(Azurite.ConnectionString, $"nosql-{Guid.NewGuid():N}"[..20]);
        await store.EnsureContainerAsync();
        var blob = store.Container.GetAppendBlobClient("logs/a.jsonl");
        var e = await Assert.ThrowsAnyAsync<RequestFailedException>(async () =>
        {
            await blob.CreateIfNotExistsAsync();
            await blob.AppendBlockAsync(new MemoryStream("{}\n"u8.ToArray()));
        });
        Assert.Equal(501, e.Status);
        Assert.False(StorageErrors.IsOutage(e));
        var failure = StorageFailure.Find(e)!;
        log.WriteLine(failure.Message);
        Assert.True(failure.IsPermanent);
        Assert.Contains(failure.Operation, new[] { "Put Blob", "Append Block" }); // creating an append blob is refused already
        Assert.Equal($"{store.Container.Name}/logs/a.jsonl", failure.Resource);
        Assert.Contains("not implemented", failure.StorageMessage, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("does not implement the operation", failure.Message);
        // What crosses an Orleans call (the message, not always the fields) classifies the same.
        var stripped = new RequestFailedException(e.Message);
        Assert.Equal((501, true, failure.Operation, failure.Resource), (StorageFailure.Classify(stripped).Status, StorageFailure.Classify(stripped).IsPermanent,
            StorageFailure.Classify(stripped).Operation, StorageFailure.Classify(stripped).Resource));
    }

    [Fact]
    public async Task A_training_run_s_metrics_log_and_an_index_shard_log_work_here()
    {
        var store = new BlobStore(Azurite.ConnectionString, $"runs-{Guid.NewGuid():N}"[..20]);
        var metrics = new LvMae.Grains.Training.RunMetricsLog(store, "run-1");
        for (var step = 1; step <= 3; step++)
        {
            metrics.Add(new System.Text.Json.Nodes.JsonObject { ["step"] = step, ["loss"] = 1.0 / step, ["lr"] = 1e-4 });
            await metrics.FlushAsync();
        }
        Assert.Equal(3, (await new LvMae.Grains.Training.RunMetricsLog(store, "run-1").ReadAsync()).Steps.Count);

        var shard = new LvMae.Grains.Index.ShardLog(store, 0, minCompactBytes: 1024);
        await shard.LoadAsync();
        var entries = new List<LvMae.Contracts.VideoIndexEntry>();
        for (var i = 0; i < 80; i++)
        {
            var entry = new LvMae.Contracts.VideoIndexEntry { Id = $"v{i:D4}", Version = 1, UpdatedAt = DateTimeOffset.UnixEpoch };
            entries.Add(entry);
            await shard.AppendAsync([new(entry, null)]);
            if (shard.ShouldCompact) await shard.CompactAsync(entries);
        }
        // The shard's storage check compares the ETags its commits returned with the ones Get Blob Properties gives here.
        Assert.True(await shard.MatchesStorageAsync());
        Assert.True(shard.Generation > 0);
        Assert.Equal(80, (await new LvMae.Grains.Index.ShardLog(store, 0).LoadAsync()).Select(c => c.Entry!.Id).Distinct().Count());
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
