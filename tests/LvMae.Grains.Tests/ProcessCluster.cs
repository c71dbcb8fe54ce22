using LvMae.Client;
using LvMae.Silo;
using LvMae.Testing;
using Xunit.Abstractions;

namespace LvMae.Grains.Tests;

/// <summary>
/// Silo PROCESSES of one cluster on Azure Table membership (one Azurite: blobs + tables; the cluster id names the container
/// too) and a gateway client finding them through the table: a cluster as machines run it.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private ProcessCluster(string name, ExternalSilo[] silos, LvMaeClient client) => (Name, Silos, Client) = (name, silos, client);

    public string Name { get; }
    public IReadOnlyList<ExternalSilo> Silos { get; }
    public LvMaeClient Client { get; }

    /// <summary>Starts <paramref name="silos"/> silos (<paramref name="configure"/> adds LVMAE__ settings) and connects a client.</summary>
    public static async Task<ProcessCluster> StartAsync(AzuriteFixture azurite, string logDirectory, int silos, Action<Dictionary<string, string>> configure)
    {
        var name = $"procs-{Guid.NewGuid():N}"[..14];
        var env = ExternalSilo.TableClusterSettings(azurite.ConnectionString, name);
        configure(env);
        var started = await Task.WhenAll(Enumerable.Range(0, silos).Select(i => ExternalSilo.StartAsync($"silo{i}", env, logDirectory)));
        try
        {
            var settings = new LvMaeSiloSettings
            {
                Storage = new StorageOptions { ConnectionString = azurite.ConnectionString, Container = name },
                Clustering = new ClusteringOptions { Mode = ClusteringMode.AzureTable, ClusterId = name, ServiceId = name },
            };
            return new ProcessCluster(name, started, await LvMaeClient.ConnectAsync(settings, TimeSpan.FromSeconds(60)));
        }
        catch
        {
            await Task.WhenAll(started.Select(s => s.DisposeAsync().AsTask()));
            throw;
        }
    }

    /// <summary>The end of every silo's log (for a failing test's output).</summary>
    public void WriteLogs(ITestOutputHelper output)
    {
        foreach (var silo in Silos) output.WriteLine($"--- {silo.Name} log:\n{ExternalSilo.Tail(silo.LogPath, 60)}");
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Task.WhenAll(Silos.Select(s => s.DisposeAsync().AsTask()));
    }
}
