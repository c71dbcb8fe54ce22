using LvMae.Contracts;
using LvMae.Grains.Index;
using LvMae.Grains.Training;
using LvMae.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;

namespace LvMae.Grains;

/// <summary>Wiring of the LvMae grains into a silo (used by the silo host and the test clusters alike).</summary>
public static class GrainsHosting
{
    /// <summary>
    /// One storage account holds everything: grain state through Orleans' Azure blob provider (container
    /// <see cref="BlobLayout.GrainStateContainer"/>, readable JSON), reminders in its tables, data blobs in
    /// <paramref name="container"/>. Adds the index layout, the per-silo job limiter and scratch space, and the media seam.
    /// </summary>
    public static ISiloBuilder AddLvMaeGrains(this ISiloBuilder silo, string connectionString, string container,
        Action<ProcessingOptions>? processing = null, Action<IndexOptions>? index = null)
    {
        var options = new ProcessingOptions();
        processing?.Invoke(options);
        var indexOptions = new IndexOptions();
        index?.Invoke(indexOptions);
        var problems = options.Problems().Concat(indexOptions.Problems()).ToList();
        if (problems.Count > 0) throw new InvalidOperationException("invalid processing options: " + string.Join("; ", problems));

        void GrainState(AzureBlobStorageOptions o)
        {
            o.BlobServiceClient = new Azure.Storage.Blobs.BlobServiceClient(connectionString);
            o.ContainerName = BlobLayout.GrainStateContainer(container);
            o.GrainStorageSerializer = new GrainStateJson();
        }
        silo.AddAzureBlobGrainStorage(LvMaeStorage.GrainStorageName, GrainState);
        silo.AddAzureBlobGrainStorageAsDefault(GrainState);
        silo.UseAzureTableReminderService(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(connectionString));

        var services = silo.Services;
        services.AddSingleton(Options.Create(options));
        services.AddSingleton(Options.Create(indexOptions));
        services.TryAddSingleton(_ => new BlobStore(connectionString, container));
        services.TryAddSingleton(_ => new GrainStateBlobs(new BlobStore(connectionString, BlobLayout.GrainStateContainer(container))));
        services.TryAddSingleton(new IndexLayout(indexOptions.Shards));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, IndexLayoutGuard>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, AuditReminderStarter>();
        services.TryAddSingleton(_ => new MediaJobLimiter(options.MaxConcurrentJobs));
        services.TryAddSingleton<ScratchSpace>();
        services.TryAddSingleton<IMediaWork, MediaWork>();
        silo.AddLvMaeTraining(); // training runs: GPU silo metadata + placement filter, run resumer (src/Grains/Training)
        return silo;
    }
}
