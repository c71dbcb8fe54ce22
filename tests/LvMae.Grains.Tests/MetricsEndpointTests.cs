using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Silo;
using LvMae.Storage;

namespace LvMae.Grains.Tests;

/// <summary>/metrics on a real silo: Prometheus text with the project's meters and Orleans', behind the API key.</summary>
[Collection(SiloHostCollection.Name)]
public sealed class MetricsEndpointTests(SiloHostFixture fixture)
{
    private const string Key = "metrics-test-key-0123456789";

    [Fact]
    public async Task A_scrape_shows_registrations_segments_videos_per_stage_media_jobs_and_orleans_meters()
    {
        var settings = new LvMaeSiloSettings
        {
            Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = "silo-metrics" },
            Clustering = new ClusteringOptions { SiloPort = SiloHostTests.FreePort(), GatewayPort = SiloHostTests.FreePort(), ClusterId = "silo-metrics", ServiceId = "silo-metrics" },
            Processing = new ProcessingOptions { MaxConcurrentJobs = 2 },
            Api = new ApiOptions { Port = 0, ApiKey = Key },
            Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning },
        };
        await using var silo = await LvMaeSiloHost.StartAsync(settings);
        var mine = $"lvmae_silo=\"{silo.Services.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress.ToParsableString()}\"";
        using var http = new HttpClient { BaseAddress = silo.ApiAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/metrics")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key); // how Prometheus sends credentials

        // Three imported videos of 4, 5 and 6 segments.
        await using var client = await LvMaeClient.ConnectAsync(settings);
        var ingestor = new VideoIngestor(new BlobStore(settings.Storage.ConnectionString, settings.Storage.Container), client.Grains);
        var dir = Directory.CreateTempSubdirectory("lvmae-metrics-").FullName;
        for (var v = 0; v < 3; v++)
        {
            var path = Path.Combine(dir, $"metrics-v{v}.npy");
            NpyArray.FromFloats(Enumerable.Range(0, (4 + v) * 8).Select(i => (float)Math.Sin(i + v)).ToArray(), 4 + v, 8).Write(path);
            await ingestor.ImportEmbeddingsAsync(path, "metrics-enc", []);
        }

        // The stage gauge follows the corpus summary (refreshed every 15 s): wait for it, bounded.
        string text = "";
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            text = await http.GetStringAsync("/metrics");
            if (Sample(text, "lvmae_videos", mine, "lvmae_video_stage=\"Embedded\"") == 3) break;
            await Task.Delay(1000);
        }
        Assert.Equal(3, Sample(text, "lvmae_videos", mine, "lvmae_video_stage=\"Embedded\""));
        Assert.Equal(0, Sample(text, "lvmae_videos", mine, "lvmae_video_stage=\"Failed\""));
        // Counters are per process (tests in parallel register videos too): this test's encoder tells its own apart.
        Assert.Equal(3, Sample(text, "lvmae_video_registrations_total", "lvmae_encoder=\"metrics-enc\""));
        Assert.Equal(4 + 5 + 6, Sample(text, "lvmae_video_segments_embedded_total", "lvmae_encoder=\"metrics-enc\""));
        Assert.Equal(2, Sample(text, "lvmae_media_jobs_capacity", mine));
        Assert.Equal(0, Sample(text, "lvmae_media_jobs_running", mine));
        Assert.Matches(new Regex(@"^# TYPE lvmae_video_registrations_total counter", RegexOptions.Multiline), text);
        Assert.Matches(new Regex(@"^orleans_\w+", RegexOptions.Multiline), text); // Orleans' own meter
    }

    /// <summary>The value of the first sample of <paramref name="name"/> whose labels contain all <paramref name="labels"/>
    /// (null when there is none); the exporter may add scope labels of its own.</summary>
    internal static double? Sample(string text, string name, params string[] labels)
    {
        foreach (Match m in Regex.Matches(text, $@"^{Regex.Escape(name)}(\{{(?<labels>[^}}]*)\}})? (?<value>\S+)", RegexOptions.Multiline))
            if (labels.All(l => m.Groups["labels"].Value.Contains(l, StringComparison.Ordinal)))
                return double.Parse(m.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture);
        return null;
    }
}
