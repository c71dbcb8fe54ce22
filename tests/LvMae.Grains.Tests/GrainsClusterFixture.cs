using LvMae.Client;
using LvMae.Contracts;
using LvMae.Grains;
using LvMae.Storage;
using LvMae.Testing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace LvMae.Grains.Tests;

/// <summary>
/// One Azurite, one real 3-silo Orleans cluster with the LvMae grains (blob grain storage, 1 media job per silo, fast
/// retries and resume sweeps) and a small generated corpus (ffmpeg lavfi) shared by the tests of the collection.
/// </summary>
public sealed class GrainsClusterFixture : IAsyncLifetime
{
    public const string Container = "lvmae-grains-tests";
    public const int MaxJobsPerSilo = 1;
    public const int MaxAttempts = 3;

    public AzuriteFixture Azurite { get; } = new();
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;
    public BlobStore Blobs { get; private set; } = null!;
    public VideoIngestor Ingestor { get; private set; } = null!;
    private int _videos;

    public string MediaDir { get; } = Directory.CreateTempSubdirectory("lvmae-grains-media-").FullName;

    public async Task InitializeAsync()
    {
        await Azurite.InitializeAsync();
        var connection = Azurite.ConnectionString;
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton<IMediaWork>(sp => new FlakyMediaWork(new MediaWork(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ProcessingOptions>>()), sp.GetRequiredService<ScratchSpace>()));
            silo.AddLvMaeGrains(connection, Container, p =>
        {
            p.MaxConcurrentJobs = MaxJobsPerSilo;
            p.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
            p.MaxRetryDelay = TimeSpan.FromMilliseconds(500);
            p.DispatchInterval = TimeSpan.FromSeconds(1);
            p.MaxAttempts = MaxAttempts;
        });
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Blobs = new BlobStore(connection, Container);
        Ingestor = new VideoIngestor(Blobs, Client);
    }

    public async Task DisposeAsync()
    {
        try { await Cluster.StopAllSilosAsync(); await Cluster.DisposeAsync(); }
        finally
        {
            await Azurite.DisposeAsync();
            try { Directory.Delete(MediaDir, true); } catch (IOException) { }
        }
    }

    /// <summary>A fresh small video (unique content: the source, length and a per-call hue make the hash unique).</summary>
    public async Task<string> NewVideoAsync(double seconds, string source = "testsrc2")
    {
        var path = Path.Combine(MediaDir, $"{Guid.NewGuid():N}.mp4");
        await TestVideos.GenerateAsync(path, seconds, source, size: 32, fps: 5,
            options: new TestVideoOptions { HueDegrees = 5 + 7 * (Interlocked.Increment(ref _videos) % 50) });
        return path;
    }

    public string CorruptFile()
    {
        var path = Path.Combine(MediaDir, $"corrupt-{Guid.NewGuid():N}.mp4");
        var bytes = new byte[4096];
        Random.Shared.NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public IEnumerable<MediaJobLimiter> Limiters =>
        Cluster.Silos.Select(s => s.ServiceProvider.GetRequiredService<MediaJobLimiter>());

    public IEnumerable<FlakyMediaWork> MediaWorks =>
        Cluster.Silos.Select(s => (FlakyMediaWork)s.ServiceProvider.GetRequiredService<IMediaWork>());

    /// <summary>Polls the corpus index (not the video grains, which a status call would activate) until every id is terminal.</summary>
    public async Task<IReadOnlyDictionary<string, VideoIndexEntry>> WaitForIndexAsync(IReadOnlyCollection<string> ids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = new Dictionary<string, VideoIndexEntry>();
        while (DateTime.UtcNow < deadline)
        {
            last.Clear();
            foreach (var e in await Client.IndexEntriesAsync(ids.ToList())) last[e.Id] = e;
            if (last.Count == ids.Count && last.Values.All(e => e.Stage is VideoStage.Embedded or VideoStage.Failed)) return last;
            await Task.Delay(300);
        }
        throw new TimeoutException("videos not terminal in time: " +
            string.Join(", ", ids.Select(id => $"{id}={(last.TryGetValue(id, out var e) ? e.Stage.ToString() : "missing")}")));
    }
}

[CollectionDefinition(Name)]
public sealed class GrainsClusterCollection : ICollectionFixture<GrainsClusterFixture>
{
    public const string Name = "grains cluster";
}
