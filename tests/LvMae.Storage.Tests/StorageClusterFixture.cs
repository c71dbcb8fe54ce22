using LvMae.Storage;
using LvMae.Testing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Providers;
using Orleans.Storage;
using Orleans.TestingHost;

namespace LvMae.Storage.Tests;

/// <summary>One Azurite and one real two-silo Orleans cluster whose default grain storage is the blob provider.</summary>
public sealed class StorageClusterFixture : IAsyncLifetime
{
    public const string Container = "grainstate-tests";

    public AzuriteFixture Azurite { get; } = new();
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    public async Task InitializeAsync()
    {
        await Azurite.InitializeAsync();
        var connection = Azurite.ConnectionString;
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) => silo.AddLvMaeBlobGrainStorageAsDefault(o =>
        {
            o.ConnectionString = connection;
            o.ContainerName = Container;
        }));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        try { await Cluster.StopAllSilosAsync(); await Cluster.DisposeAsync(); }
        finally { await Azurite.DisposeAsync(); }
    }

    /// <summary>The blob grain storage instance living in silo <paramref name="silo"/>.</summary>
    public IGrainStorage Storage(int silo = 0) =>
        Cluster.Silos[silo].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME);
}

[CollectionDefinition(Name)]
public sealed class StorageClusterCollection : ICollectionFixture<StorageClusterFixture>
{
    public const string Name = "storage cluster";
}
