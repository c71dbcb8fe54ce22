using System.Text.Json;
using Azure.Storage.Blobs;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Storage;
using LvMae.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using Orleans.TestingHost;

namespace LvMae.Grains.Tests;

/// <summary>
/// One Azurite behind a <see cref="LossyProxy"/> and a real one-silo cluster with the LvMae grains whose blob traffic (grain
/// state, index, data) goes through the proxy; tables (reminders) go direct. The test side (uploads, reading what is
/// persisted) talks to Azurite directly.
/// </summary>
public sealed class LostResponseClusterFixture : IAsyncLifetime
{
    public const string Container = "lvmae-lost-responses";

    public AzuriteFixture Azurite { get; } = new();
    public LossyProxy Proxy { get; private set; } = null!;
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;
    public BlobStore Blobs { get; private set; } = null!;
    public VideoIngestor Ingestor { get; private set; } = null!;
    /// <summary>The silo's LvMae log lines (information and above), shown when a test times out.</summary>
    public CapturedLog Log { get; } = new();
    public string MediaDir { get; } = Directory.CreateTempSubdirectory("lvmae-lost-media-").FullName;
    private int _videos;

    public async Task InitializeAsync()
    {
        await Azurite.InitializeAsync();
        Proxy = new LossyProxy(Azurite.Port);
        var throughProxy = LossyProxy.BlobsThrough(Azurite, Proxy);
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) => silo.Services.AddLogging(l => l.AddProvider(Log)));
        builder.ConfigureSilo((_, silo) => silo.AddLvMaeGrains(throughProxy, Container, p =>
        {
            p.MaxConcurrentJobs = 1;
            p.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
            p.MaxRetryDelay = TimeSpan.FromMilliseconds(500);
            p.DispatchInterval = TimeSpan.FromSeconds(1);
        }, index => index.OutageProbeInterval = TimeSpan.FromSeconds(1)));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Blobs = new BlobStore(Azurite.ConnectionString, Container);
        Ingestor = new VideoIngestor(Blobs, Client);
    }

    public async Task DisposeAsync()
    {
        try { await Cluster.StopAllSilosAsync(); await Cluster.DisposeAsync(); }
        finally
        {
            await Proxy.DisposeAsync();
            await Azurite.DisposeAsync();
            try { Directory.Delete(MediaDir, true); } catch (IOException) { }
        }
    }

    /// <summary>The silo's "lvmae" grain storage, as the grains get it.</summary>
    public IGrainStorage Storage => Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(LvMaeStorage.GrainStorageName);

    /// <summary>A blob store on a new container whose requests go through the proxy.</summary>
    public async Task<BlobStore> ProxiedStoreAsync(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(63, prefix.Length + 33)];
        await Azurite.ServiceClient().GetBlobContainerClient(name).CreateIfNotExistsAsync();
        return new BlobStore(new BlobContainerClient(LossyProxy.BlobsThrough(Azurite, Proxy), name));
    }

    /// <summary>What storage holds for a video's state (read directly, not through any grain).</summary>
    public async Task<VideoState?> PersistedAsync(string id)
    {
        var blob = Azurite.ServiceClient().GetBlobContainerClient(BlobLayout.GrainStateContainer(Container))
            .GetBlobClient(BlobLayout.GrainStateBlob("state", "lvmae.video", id));
        if (!await blob.ExistsAsync()) return null;
        return JsonSerializer.Deserialize<VideoState>((await blob.DownloadContentAsync()).Value.Content.ToArray(), GrainStateJson.Options);
    }

    /// <summary>True for a write (PUT) of this video's state blob.</summary>
    public static Func<ProxiedRequest, bool> StateWriteOf(string id) =>
        r => r.Method == "PUT" && r.Target.Contains($"/state-lvmae.video/{id}.json", StringComparison.Ordinal);

    /// <summary>Overwrites a video's state on storage directly (as a storage that lost writes comes back holding an older one).</summary>
    public async Task OverwritePersistedAsync(string id, VideoState state)
    {
        var blob = Azurite.ServiceClient().GetBlobContainerClient(BlobLayout.GrainStateContainer(Container))
            .GetBlobClient(BlobLayout.GrainStateBlob("state", "lvmae.video", id));
        await blob.UploadAsync(BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(state, GrainStateJson.Options)), overwrite: true);
    }

    public async Task<string> NewVideoAsync(double seconds)
    {
        var path = Path.Combine(MediaDir, $"{Guid.NewGuid():N}.mp4");
        await TestVideos.GenerateAsync(path, seconds, "testsrc2", size: 32, fps: 5,
            options: new TestVideoOptions { HueDegrees = 3 + 11 * (Interlocked.Increment(ref _videos) % 30) });
        return path;
    }

    public async Task<VideoIndexEntry> WaitForIndexAsync(string id, VideoStage stage, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        VideoIndexEntry? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try { last = await Client.IndexEntryAsync(id); }
            catch (Exception e) when (e is OrleansException or TimeoutException) { }
            if (last?.Stage == stage) return last;
            await Task.Delay(200);
        }
        throw new TimeoutException($"video {id}: index says {last?.Stage.ToString() ?? "nothing"}, not {stage}, after {timeout.TotalSeconds} s");
    }

    public async Task<AuditReport> AuditAsync(TimeSpan timeout)
    {
        var audit = Client.GetGrain<ICorpusAuditGrain>(0);
        var report = await audit.Start(new AuditRequest { Blobs = true });
        var deadline = DateTime.UtcNow + timeout;
        while ((report = await audit.Report()).Running)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("audit did not finish in time");
            await Task.Delay(200);
        }
        return report;
    }
}

[CollectionDefinition(Name)]
public sealed class LostResponseClusterCollection : ICollectionFixture<LostResponseClusterFixture>
{
    public const string Name = "lost response cluster";
}

/// <summary>Keeps the last LvMae log lines of a silo (information and above) in memory.</summary>
public sealed class CapturedLog : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public string Last(int count = 40) => string.Join("\n", _lines.TakeLast(count));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(CapturedLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && category.StartsWith("LvMae", StringComparison.Ordinal);
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            log._lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}");
            while (log._lines.Count > 2000) log._lines.TryDequeue(out _);
        }
    }
}
