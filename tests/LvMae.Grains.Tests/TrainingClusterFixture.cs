using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Grains;
using LvMae.Grains.Training;
using LvMae.Storage;
using LvMae.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.TestingHost;

namespace LvMae.Grains.Tests;

/// <summary>
/// Azurite + a 2-silo cluster for the training tests: the first silo declares no GPU, every later one declares one (so
/// placement has a choice, and a silo started after a stop is a GPU silo again). Runs pause 40 ms a step (so a test can
/// stop a silo mid-run) and keep their resume reminder at a 2 s period (Orleans' minimum lowered to match; the product's is
/// 1 minute, measured in <see cref="TrainingFailoverProcessTests"/>); grain state writes can be made to fail
/// (<see cref="FlakyGrainStorage"/>). A small labelled corpus of synthetic 32-d
/// embeddings (two classes, "cls=a|b") is imported through the video grains, plus one video whose blob is corrupted afterwards.
/// </summary>
public sealed class TrainingClusterFixture : IAsyncLifetime
{
    public const string Container = "lvmae-training-tests";
    public const string Encoder = "synthetic";
    public const int Dim = 32;
    public const int Videos = 24;
    public const string CorruptId = "train-corrupt";
    public static readonly TimeSpan ReminderPeriod = TimeSpan.FromSeconds(2);

    private int _silos;
    public AzuriteFixture Azurite { get; } = new();
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;
    public BlobStore Blobs { get; private set; } = null!;
    public IReadOnlyList<string> VideoIds { get; private set; } = [];

    public async Task InitializeAsync()
    {
        await Azurite.InitializeAsync();
        var connection = Azurite.ConnectionString;
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            var gpu = Interlocked.Increment(ref _silos) > 1;
            silo.AddLvMaeTraining(o =>
            {
                o.DeclareGpu = gpu;
                o.ResumeReminderPeriod = ReminderPeriod;
                o.StepDelay = TimeSpan.FromMilliseconds(40);
                o.ReportInterval = TimeSpan.FromSeconds(1);
                o.StateWriteRetryDelay = TimeSpan.FromMilliseconds(100);
            });
            silo.AddLvMaeGrains(connection, Container, p =>
            {
                p.MaxConcurrentJobs = 2;
                p.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                p.MaxRetryDelay = TimeSpan.FromMilliseconds(500);
                p.DispatchInterval = TimeSpan.FromSeconds(1);
            });
            silo.Configure<Orleans.Hosting.ReminderOptions>(o => o.MinimumReminderPeriod = ReminderPeriod);
            FlakyGrainStorage.Install(silo.Services, LvMaeStorage.GrainStorageName);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Blobs = new BlobStore(connection, Container);

        var rng = new Random(7);
        var ids = new List<string>();
        var classA = RandomUnit(rng);
        var classB = RandomUnit(rng);
        for (var v = 0; v < Videos; v++)
        {
            var id = $"train-v{v:D2}";
            var label = v % 2 == 0 ? "a" : "b";
            var centre = v % 2 == 0 ? classA : classB;
            var segments = 6 + rng.Next(20);
            var data = new float[segments * Dim];
            for (var s = 0; s < segments; s++)
                for (var k = 0; k < Dim; k++) data[s * Dim + k] = centre[k] + 0.6f * (float)Gaussian(rng);
            await ImportAsync(id, data, segments, ["cls=" + label]);
            ids.Add(id);
        }
        await ImportAsync(CorruptId, new float[8 * Dim], 8, ["cls=a"]);
        await WaitEmbeddedAsync([.. ids, CorruptId]);
        // The index says Embedded; the blob is garbage now: training must report it and go on.
        await Blobs.UploadAsync(BlobLayout.Embeddings(CorruptId, Encoder), new byte[] { 1, 2, 3, 4, 5 });
        VideoIds = ids;
    }

    /// <summary>Imports labelled synthetic videos with <paramref name="encoder"/> and waits until the index says Embedded.</summary>
    public async Task ImportSyntheticAsync(string encoder, IEnumerable<int> numbers, int seed)
    {
        var rng = new Random(seed);
        var centres = new[] { RandomUnit(new Random(11)), RandomUnit(new Random(12)) };
        var ids = new List<string>();
        foreach (var v in numbers)
        {
            var id = $"{encoder}-v{v:D2}";
            var segments = 4 + rng.Next(10);
            var data = new float[segments * Dim];
            for (var s = 0; s < segments; s++)
                for (var k = 0; k < Dim; k++) data[s * Dim + k] = centres[v % 2][k] + 0.6f * (float)Gaussian(rng);
            await ImportAsync(id, data, segments, [v % 2 == 0 ? "cls=a" : "cls=b", v % 4 < 2 ? "split=train" : "split=test"], encoder);
            ids.Add(id);
        }
        await WaitEmbeddedAsync(ids);
    }

    private async Task ImportAsync(string id, float[] data, int segments, IReadOnlyList<string> labels, string encoder = Encoder)
    {
        using var buffer = new MemoryStream();
        NpyArray.FromFloats(data, segments, Dim).Write(buffer);
        var blob = BlobLayout.Embeddings(id, encoder);
        await Blobs.UploadAsync(blob, buffer.ToArray());
        await Client.GetGrain<IVideoGrain>(id).Register(new VideoRegistration { Kind = VideoSourceKind.Embeddings, SourceBlob = blob, Encoder = encoder, Labels = labels });
    }

    private async Task WaitEmbeddedAsync(IReadOnlyList<string> ids)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var found = (await Client.IndexEntriesAsync(ids)).ToDictionary(e => e.Id);
            var entries = ids.Select(id => found.GetValueOrDefault(id)).ToList();
            if (entries.All(e => e?.Stage == VideoStage.Embedded)) return;
            if (entries.FirstOrDefault(e => e?.Stage == VideoStage.Failed) is { } failed)
                throw new InvalidOperationException($"import of {failed.Id} failed: {failed.FailureMessage}");
            await Task.Delay(200);
        }
        throw new TimeoutException("synthetic videos not embedded in time");
    }

    private static float[] RandomUnit(Random rng)
    {
        var v = Enumerable.Range(0, Dim).Select(_ => (float)Gaussian(rng)).ToArray();
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    public async Task<TrainingProgress> WaitAsync(ITrainingRunGrain run, Func<TrainingProgress, bool> until, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        TrainingProgress? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await run.GetProgress();
                if (until(last)) return last;
                if (last.State == TrainingState.Failed) throw new InvalidOperationException($"run failed: {last.Message}");
            }
            catch (Exception e) when (e is not InvalidOperationException) { /* the silo hosting it is going away */ }
            await Task.Delay(200);
        }
        throw new TimeoutException($"run not there in time; last: state {last?.State}, step {last?.Step}, ckpt {last?.LatestCheckpointStep}, message {last?.Message}");
    }

    /// <summary>Whether the cluster's reminder table (Azure tables on Azurite) holds the run's resume reminder.</summary>
    public async Task<bool> HasResumeReminderAsync(string run)
    {
        var table = Cluster.Silos.First().ServiceProvider.GetRequiredService<IReminderTable>();
        var rows = await table.ReadRows(GrainId.Create("lvmae.training-run", run));
        return rows.Reminders.Any(r => r.ReminderName == TrainingRunGrain.ResumeReminder);
    }

    /// <summary>Waits until the run registry says <paramref name="state"/>: the grain upserts it after its state and its reminder are settled.</summary>
    public async Task WaitRegistryAsync(string run, TrainingState state, TimeSpan timeout)
    {
        var registry = Client.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key);
        var deadline = DateTime.UtcNow + timeout;
        while ((await registry.Get(run))?.State != state.ToString())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the registry never said {state} for run {run}");
            await Task.Delay(100);
        }
    }

    /// <summary>The silos that declare a GPU, once every silo's metadata cache knows them.</summary>
    public async Task<IReadOnlyList<string>> GpuSilosAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var silos = Cluster.Silos.ToList();
            var gpu = silos.Where(s => s.ServiceProvider.GetRequiredService<IOptions<TrainingOptions>>().Value.DeclareGpu == true).ToList();
            var known = silos.All(viewer => gpu.All(g =>
                viewer.ServiceProvider.GetRequiredService<ISiloMetadataCache>().GetSiloMetadata(g.SiloAddress).Metadata.ContainsKey(GpuPlacement.MetadataKey)));
            if (gpu.Count > 0 && known) return gpu.Select(s => s.SiloAddress.ToString()).ToList();
            if (DateTime.UtcNow > deadline) throw new TimeoutException("GPU silo metadata not propagated");
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        try { await Cluster.StopAllSilosAsync(); await Cluster.DisposeAsync(); }
        finally { await Azurite.DisposeAsync(); }
    }
}

[CollectionDefinition(Name)]
public sealed class TrainingClusterCollection : ICollectionFixture<TrainingClusterFixture>
{
    public const string Name = "training cluster";
}
