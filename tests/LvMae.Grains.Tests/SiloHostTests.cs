using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Silo;
using LvMae.Storage;
using LvMae.Testing;
using Microsoft.Extensions.Configuration;

namespace LvMae.Grains.Tests;

/// <summary>An Azurite of its own for the silo-host tests (real LvMaeSiloHost instances, not the test cluster).</summary>
public sealed class SiloHostFixture : IAsyncLifetime
{
    public AzuriteFixture Azurite { get; } = new();
    public string MediaDir { get; } = Directory.CreateTempSubdirectory("lvmae-silohost-media-").FullName;
    public Task InitializeAsync() => Azurite.InitializeAsync();
    public async Task DisposeAsync()
    {
        await Azurite.DisposeAsync();
        try { Directory.Delete(MediaDir, true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class SiloHostCollection : ICollectionFixture<SiloHostFixture>
{
    public const string Name = "silo host";
}

[Collection(SiloHostCollection.Name)]
public sealed class SiloHostTests(SiloHostFixture fixture)
{
    internal static int FreePort() => LvMae.Testing.ExternalSilo.FreePort();

    private LvMaeSiloSettings Settings(string container) => new()
    {
        Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = container },
        Clustering = new ClusteringOptions { SiloPort = FreePort(), GatewayPort = FreePort(), ClusterId = container, ServiceId = container },
        Processing = new LvMae.Grains.ProcessingOptions { MaxConcurrentJobs = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(100) },
        Api = new ApiOptions { Port = 0 },
        Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning },
    };

    [Fact]
    public async Task Local_silo_serves_api_dashboard_and_a_gateway_client()
    {
        var settings = Settings("silo-local");
        await using var silo = await LvMaeSiloHost.StartAsync(settings);
        Assert.NotNull(silo.ApiAddress);
        Assert.Equal("127.0.0.1", silo.ApiAddress!.Host);
        using var http = new HttpClient { BaseAddress = silo.ApiAddress };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/corpus/summary")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/dashboard")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/videos/v-nothing")).StatusCode);

        // A gateway client (what the CLI uses) ingests; the API sees the result.
        await using var client = await LvMaeClient.ConnectAsync(settings);
        var path = Path.Combine(fixture.MediaDir, "local.mp4");
        await TestVideos.GenerateAsync(path, 6, "testsrc2", size: 32, fps: 5);
        var ingestor = new VideoIngestor(new BlobStore(settings.Storage.ConnectionString, settings.Storage.Container), client.Grains);
        var result = await ingestor.IngestFileAsync(path, "builtin", ["local"]);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        VideoStatus? status = null;
        while (DateTime.UtcNow < deadline)
        {
            status = await http.GetFromJsonAsync<VideoStatus>($"/videos/{result.VideoId}", ApiTests.Json);
            if (status!.IsTerminal) break;
            await Task.Delay(250);
        }
        Assert.Equal(VideoStage.Embedded, status!.Stage);

        using var jobs = JsonDocument.Parse(await http.GetStringAsync("/silo/jobs"));
        Assert.Equal(1, jobs.RootElement.GetProperty("capacity").GetInt32());
        Assert.Equal(1, jobs.RootElement.GetProperty("completed").GetInt64()); // one job per video: download, probe, encode under one slot
    }

    [Fact]
    public async Task No_silo_gives_a_clear_message()
    {
        var e = await Assert.ThrowsAsync<SiloUnreachableException>(() =>
            LvMaeClient.ConnectAsync(new ClusteringOptions { GatewayPort = FreePort(), SiloPort = FreePort() }, TimeSpan.FromSeconds(5)));
        Assert.Contains("no LvMae silo reachable", e.Message);
        Assert.Contains("lvmae up", e.Message);

        // The default timeout first tries the gateway port: nothing listens, so the short wait applies and the same message comes.
        var byDefault = await Assert.ThrowsAsync<SiloUnreachableException>(() => LvMaeClient.ConnectAsync(new ClusteringOptions { GatewayPort = FreePort(), SiloPort = FreePort() }));
        Assert.Contains("no LvMae silo reachable", byDefault.Message);
    }

    [Fact]
    public void Configuration_binds_from_environment_style_keys_and_is_validated_with_clear_messages()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LVMAE:Storage:Container"] = "my-corpus",
            ["LVMAE:Processing:MaxConcurrentJobs"] = "3",
            ["LVMAE:Api:Port"] = "6001",
            ["LVMAE:Clustering:Mode"] = "Redis",
            ["LVMAE:Clustering:RedisConnectionString"] = "127.0.0.1:6379",
            ["LVMAE:Clustering:AdvertisedIPAddress"] = "127.0.0.1", // a one-machine cluster: no TLS needed (ClusterSecurityTests)
        }).Build();
        var settings = LvMaeSiloSettings.Load(configuration).Validate();
        Assert.Equal("my-corpus", settings.Storage.Container);
        Assert.Equal(3, settings.Processing.MaxConcurrentJobs);
        Assert.Equal(6001, settings.Api.Port);
        Assert.Equal(ClusteringMode.Redis, settings.Clustering.Mode);

        var bad = new LvMaeSiloSettings
        {
            Storage = new StorageOptions { Container = "Bad_Container" },
            Clustering = new ClusteringOptions { Mode = ClusteringMode.Redis, SiloPort = 5000, GatewayPort = 5000 },
            Processing = new LvMae.Grains.ProcessingOptions { MaxConcurrentJobs = 0 },
            Api = new ApiOptions { Host = "0.0.0.0" },
        };
        var error = Assert.Throws<LvMaeConfigurationException>(() => bad.Validate());
        Assert.Contains(error.Problems, p => p.Contains("Container"));
        Assert.Contains(error.Problems, p => p.Contains("RedisConnectionString"));
        Assert.Contains(error.Problems, p => p.Contains("SiloPort and GatewayPort"));
        Assert.Contains(error.Problems, p => p.Contains("MaxConcurrentJobs"));
        Assert.Contains(error.Problems, p => p.Contains("ApiKey"));
        Assert.Throws<LvMaeConfigurationException>(() => LvMaeSiloHost.Build(bad));

        var typo = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["LvMae:Api:Port"] = "eighty" }).Build();
        Assert.Throws<LvMaeConfigurationException>(() => LvMaeSiloSettings.Load(typo));
    }

    [Fact]
    public async Task Training_settings_bind_and_a_resume_reminder_below_the_reminder_minimum_stops_the_silo_at_start()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LVMAE:Training:ResumeReminderPeriod"] = "00:00:10",
            ["LVMAE:Training:StepDelay"] = "00:00:00.050",
        }).Build();
        var bound = LvMaeSiloSettings.Load(configuration);
        Assert.Equal(TimeSpan.FromSeconds(10), bound.Training.ResumeReminderPeriod);
        Assert.Equal(TimeSpan.FromMilliseconds(50), bound.Training.StepDelay);
        Assert.Empty(SiloProcess.UnknownKeys(configuration));

        var settings = Settings("reminder-minimum");
        settings.Training = bound.Training;
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => LvMaeSiloHost.StartAsync(settings));
        Assert.Contains("ResumeReminderPeriod", refused.Message); // Orleans' minimum is 1 minute: no run could register its reminder
    }

    [Fact]
    public async Task Two_silos_with_redis_membership_and_shared_blob_storage()
    {
        await using var redis = await RedisServer.StartAsync();
        var settings = Settings("silo-redis");
        settings.Clustering.Mode = ClusteringMode.Redis;
        settings.Clustering.RedisConnectionString = redis.ConnectionString;
        settings.Clustering.AdvertisedIPAddress = "127.0.0.1";
        var second = Settings("silo-redis");
        second.Clustering = new ClusteringOptions
        {
            Mode = ClusteringMode.Redis, RedisConnectionString = redis.ConnectionString, AdvertisedIPAddress = "127.0.0.1",
            ClusterId = settings.Clustering.ClusterId, ServiceId = settings.Clustering.ServiceId, SiloPort = FreePort(), GatewayPort = FreePort(),
        };
        second.Api.Enabled = false;

        await using var a = await LvMaeSiloHost.StartAsync(settings);
        await using var b = await LvMaeSiloHost.StartAsync(second);
        await using var client = await LvMaeClient.ConnectAsync(settings);

        var management = client.Cluster.GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await management.GetHosts(onlyActive: true)).Count < 2 && DateTime.UtcNow < deadline) await Task.Delay(250);
        Assert.Equal(2, (await management.GetHosts(onlyActive: true)).Count);

        var ingestor = new VideoIngestor(new BlobStore(settings.Storage.ConnectionString, settings.Storage.Container), client.Grains);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var path = Path.Combine(fixture.MediaDir, $"redis-{i}.mp4");
            await TestVideos.GenerateAsync(path, 6 + i, "smptebars", size: 32, fps: 5);
            ids.Add((await ingestor.IngestFileAsync(path, "builtin", ["redis"])).VideoId);
        }
        deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline &&
               (await client.Grains.QueryAsync(new VideoQuery { Label = "redis", Stage = VideoStage.Embedded })).Matching < ids.Count)
            await Task.Delay(300);
        Assert.Equal(ids.Count, (await client.Grains.QueryAsync(new VideoQuery { Label = "redis", Stage = VideoStage.Embedded })).Matching);
    }
}

/// <summary>A throwaway redis-server on a free loopback port (Debian's redis-server; infra/setup.sh installs it).</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    private RedisServer(Process process, string dir, int port) { _process = process; _dir = dir; Port = port; }

    public static async Task<RedisServer> StartAsync()
    {
        var binary = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server not found: apt-get install -y redis-server (infra/setup.sh does it)");
        var port = SiloHostTests.FreePort();
        var dir = Directory.CreateTempSubdirectory("lvmae-redis-").FullName;
        var start = new ProcessStartInfo(binary)
        {
            ArgumentList = { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes" },
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                return new RedisServer(process, dir, port);
            }
            catch (SocketException) { await Task.Delay(100); }
        }
        process.Kill();
        throw new TimeoutException($"redis-server did not listen on {port}");
    }

    public ValueTask DisposeAsync()
    {
        try { if (!_process.HasExited) { _process.Kill(); _process.WaitForExit(5000); } }
        finally
        {
            _process.Dispose();
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }
        return ValueTask.CompletedTask;
    }
}
