using LvMae.Grains.Training;
using LvMae.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace LvMae.Grains;

/// <summary>Wiring of the LvMae grains into a silo (used by the silo host and the test clusters alike).</summary>
public static class GrainsHosting
{
    /// <summary>
    /// Blob grain storage "lvmae" (and as default), the shared <see cref="BlobStore"/>, the per-silo job limiter, the media seam and the resumer.
    /// </summary>
    public static ISiloBuilder AddLvMaeGrains(this ISiloBuilder silo, string connectionString, string container, Action<ProcessingOptions>? processing = null)
    {
        var options = new ProcessingOptions();
        processing?.Invoke(options);
        var problems = options.Problems().ToList();
        if (problems.Count > 0) throw new InvalidOperationException("invalid processing options: " + string.Join("; ", problems));

        silo.AddLvMaeBlobGrainStorage(LvMaeStorage.GrainStorageName, o => { o.ConnectionString = connectionString; o.ContainerName = container; });
        silo.AddLvMaeBlobGrainStorageAsDefault(o => { o.ConnectionString = connectionString; o.ContainerName = container; });
        var services = silo.Services;
        services.AddOptions<ProcessingOptions>().Configure(o => Copy(options, o));
        services.TryAddSingleton(_ => new BlobStore(connectionString, container));
        services.TryAddSingleton(_ => new MediaJobLimiter(options.MaxConcurrentJobs));
        services.TryAddSingleton<IMediaWork, MediaWork>();
        services.AddHostedService<VideoResumer>();
        silo.AddLvMaeTraining(); // training runs: GPU silo metadata + placement filter, run resumer (src/Grains/Training)
        return silo;
    }

    private static void Copy(ProcessingOptions from, ProcessingOptions to)
    {
        to.MaxConcurrentJobs = from.MaxConcurrentJobs;
        to.MaxAttempts = from.MaxAttempts;
        to.RetryBaseDelay = from.RetryBaseDelay;
        to.MaxRetryDelay = from.MaxRetryDelay;
        to.ResumeSweepInterval = from.ResumeSweepInterval;
        to.WorkDirectory = from.WorkDirectory;
        to.SegmentSeconds = from.SegmentSeconds;
    }
}
