using System.Net;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Silo;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>
/// No secret reaches a log at any level: a silo process logging everything (Trace, Orleans included) on table membership,
/// with an API key, serves, ingests a video, refuses a wrong key and reports a storage error; its whole log is then
/// searched for the storage account key and the API key.
/// </summary>
public sealed class SecretLoggingTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-secrets-").FullName;

    [Fact]
    public async Task A_silo_logging_at_trace_level_writes_neither_the_account_key_nor_the_api_key()
    {
        const string apiKey = "api-key-that-must-not-be-logged-7f3a";
        var accountKey = azurite.ConnectionString.Split(';').Single(p => p.StartsWith("AccountKey=", StringComparison.Ordinal))["AccountKey=".Length..];
        var cluster = $"secrets-{Guid.NewGuid():N}"[..16];
        var env = new Dictionary<string, string>
        {
            ["Storage__ConnectionString"] = azurite.ConnectionString,
            ["Storage__Container"] = cluster,
            ["Clustering__Mode"] = "AzureTable",
            ["Clustering__ClusterId"] = cluster,
            ["Clustering__ServiceId"] = cluster,
            ["Api__ApiKey"] = apiKey,
            ["Logging__MinimumLevel"] = "Trace",
            ["Logging__OrleansLevel"] = "Trace",
        };
        var silo = await ExternalSilo.StartAsync("trace", env, _dir);
        try
        {
            using var http = new HttpClient { BaseAddress = silo.Api };
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("corpus/summary")).StatusCode);
            http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("corpus/summary")).StatusCode);

            var settings = new LvMaeSiloSettings
            {
                Storage = new StorageOptions { ConnectionString = azurite.ConnectionString, Container = cluster },
                Clustering = new ClusteringOptions { Mode = ClusteringMode.AzureTable, ClusterId = cluster, ServiceId = cluster },
            };
            await using var client = await LvMaeClient.ConnectAsync(settings, TimeSpan.FromSeconds(30));
            var path = Path.Combine(_dir, "clip.mp4");
            await TestVideos.GenerateAsync(path, 6, "testsrc2", size: 32, fps: 5);
            var result = await new VideoIngestor(new BlobStore(azurite.ConnectionString, cluster), client.Grains).IngestFileAsync(path, "builtin", []);
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while ((await client.Grains.IndexEntryAsync(result.VideoId))?.Stage != VideoStage.Embedded && DateTime.UtcNow < deadline) await Task.Delay(250);
            Assert.Equal(VideoStage.Embedded, (await client.Grains.IndexEntryAsync(result.VideoId))!.Stage);
            // A storage error on the way (a registration whose source blob is missing): errors are logged with their details.
            await client.Grains.GetGrain<IVideoGrain>("vmissing0000").Register(new VideoRegistration { SourceBlob = "videos/vmissing0000/source.mp4", Encoder = "builtin" });
            deadline = DateTime.UtcNow.AddMinutes(1);
            while ((await client.Grains.IndexEntryAsync("vmissing0000"))?.Stage != VideoStage.Failed && DateTime.UtcNow < deadline) await Task.Delay(250);
        }
        finally
        {
            await silo.StopAsync();
        }
        var log = await File.ReadAllTextAsync(silo.LogPath);
        Assert.True(log.Length > 10_000, $"the trace log is suspiciously short ({log.Length} characters)");
        Assert.DoesNotContain(accountKey, log);
        Assert.DoesNotContain(accountKey[..20], log);
        Assert.DoesNotContain(apiKey, log);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
