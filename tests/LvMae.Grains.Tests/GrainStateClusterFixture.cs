using LvMae.Storage;
using LvMae.Testing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Providers;
using Orleans.Storage;
using Orleans.TestingHost;

namespace LvMae.Grains.Tests;

/// <summary>One Azurite and a real two-silo cluster with the LvMae grain wiring: grain state through Orleans' Azure blob provider as configured by <see cref="GrainsHosting.AddLvMaeGrains"/>.</summary>
public sealed class GrainStateClusterFixture : IAsyncLifetime
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
        builder.ConfigureSilo((_, silo) => silo.AddLvMaeGrains(connection, Container));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        try { await Cluster.StopAllSilosAsync(); await Cluster.DisposeAsync(); }
        finally { await Azurite.DisposeAsync(); }
    }

    /// <summary>The default grain storage (the one grains without a named provider use) living in silo <paramref name="silo"/>.</summary>
    public IGrainStorage Storage(int silo = 0) =>
        Cluster.Silos[silo].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME);

    /// <summary>The state container, as an operator browses it.</summary>
    public Azure.Storage.Blobs.BlobContainerClient StateContainer => Azurite.ServiceClient().GetBlobContainerClient(BlobLayout.GrainStateContainer(Container));
}

[CollectionDefinition(Name)]
public sealed class GrainStateClusterCollection : ICollectionFixture<GrainStateClusterFixture>
{
    public const string Name = "grain state cluster";
}
