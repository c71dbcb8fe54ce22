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
        Action<ProcessingOptions>? processing = null, Action<IndexOptions>? index = null, StorageTraffic? traffic = null)
    {
        var options = new ProcessingOptions();
        processing?.Invoke(options);
        var indexOptions = new IndexOptions();
        index?.Invoke(indexOptions);
        return silo.AddLvMaeGrains(connectionString, container, options, indexOptions, traffic);
    }

    /// <summary>The same with the options as configured (the silo host binds them from configuration).</summary>
    public static ISiloBuilder AddLvMaeGrains(this ISiloBuilder silo, string connectionString, string container,
        ProcessingOptions options, IndexOptions indexOptions, StorageTraffic? traffic = null)
    {
        var problems = options.Problems().Concat(indexOptions.Problems()).ToList();
        if (problems.Count > 0) throw new InvalidOperationException("invalid processing options: " + string.Join("; ", problems));

        traffic ??= new StorageTraffic();
        var stateContainer = BlobLayout.GrainStateContainer(container);
        var blobOptions = traffic.BlobOptions(path => TrafficCategory(path, container, stateContainer));
        void GrainState(AzureBlobStorageOptions o)
        {
            o.BlobServiceClient = new Azure.Storage.Blobs.BlobServiceClient(connectionString, blobOptions);
            o.ContainerName = BlobLayout.GrainStateContainer(container);
            o.GrainStorageSerializer = new GrainStateJson();
        }
        silo.AddAzureBlobGrainStorage(LvMaeStorage.GrainStorageName, GrainState);
        silo.AddAzureBlobGrainStorageAsDefault(GrainState);
        // A write whose response was lost (storage crashed, connection cut) is resolved by reading it back, not reported as a conflict.
        ReadBackGrainStorage.Install(silo.Services, LvMaeStorage.GrainStorageName, new GrainStateJson());
        ReadBackGrainStorage.Install(silo.Services, Orleans.Providers.ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, new GrainStateJson());
        silo.UseAzureTableReminderService(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(connectionString, TableOptions(traffic)));

        var services = silo.Services;
        services.AddSingleton(Options.Create(options));
        services.AddSingleton(Options.Create(indexOptions));
        services.TryAddSingleton(traffic);
        services.TryAddSingleton(_ => new BlobStore(connectionString, container, blobOptions));
        services.TryAddSingleton(_ => new GrainStateBlobs(new BlobStore(connectionString, stateContainer, blobOptions)));
        services.TryAddSingleton(new IndexLayout(indexOptions.Shards));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, IndexLayoutGuard>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, AuditReminderStarter>();
        services.TryAddSingleton(_ => new MediaJobLimiter(options.MaxConcurrentJobs));
        services.TryAddSingleton<ScratchSpace>();
        services.TryAddSingleton<IMediaWork, MediaWork>();
        services.TryAddSingleton(sp => new SourceBlobs(connectionString, blobOptions,
            store => sp.GetRequiredService<IGrainFactory>().GetGrain<ISourceStoreGrain>(store).Get()));
        services.TryAddSingleton(sp => new VideoProcessor(sp.GetRequiredService<BlobStore>(), sp.GetRequiredService<IMediaWork>(),
            sp.GetRequiredService<MediaJobLimiter>(), sp.GetRequiredService<ScratchSpace>(), options, sp.GetRequiredService<SourceBlobs>()));
        silo.AddLvMaeTraining(); // training runs: GPU silo metadata + placement filter, run resumer (src/Grains/Training)
        return silo;
    }

    /// <summary>Table clients (reminders, membership) whose requests count as "tables".</summary>
    public static Azure.Data.Tables.TableClientOptions TableOptions(StorageTraffic traffic)
    {
        var options = new Azure.Data.Tables.TableClientOptions();
        options.AddPolicy(traffic.Policy(_ => "tables"), Azure.Core.HttpPipelinePosition.PerCall);
        options.AddPolicy(StorageFailure.Policy, Azure.Core.HttpPipelinePosition.PerCall);
        return options;
    }

    /// <summary>grain state | index | data (everything else in the data container, written by this silo) | sources (videos registered in place, read where they are).</summary>
    private static string TrafficCategory(string path, string container, string stateContainer) =>
        path.Contains($"/{stateContainer}/", StringComparison.Ordinal) ? "grain state"
        : path.Contains($"/{container}/{BlobLayout.IndexPrefix}", StringComparison.Ordinal) ? "index"
        : path.Contains($"/{container}/", StringComparison.Ordinal) ? "data"
        : "sources";
}
