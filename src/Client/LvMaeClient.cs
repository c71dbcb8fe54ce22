using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using RedisConfiguration = StackExchange.Redis.ConfigurationOptions;

namespace LvMae.Client;

/// <summary>No silo answered at the configured gateway(s).</summary>
public sealed class SiloUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>An Orleans client for the CLI and tools, configured like the silos (same LvMae:Clustering section).</summary>
public sealed class LvMaeClient : IAsyncDisposable
{
    private readonly IHost _host;

    private LvMaeClient(IHost host) => _host = host;

    public IClusterClient Cluster => _host.Services.GetRequiredService<IClusterClient>();
    public IGrainFactory Grains => Cluster;

    /// <summary>Connects, or throws <see cref="SiloUnreachableException"/> with a message saying where it looked and how to start a silo.</summary>
    public static Task<LvMaeClient> ConnectAsync(LvMaeClientSettings settings, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        ConnectAsync(settings.Clustering, settings.Tls, timeout, cancellationToken, settings.Storage.ConnectionString);

    public static Task<LvMaeClient> ConnectAsync(ClusteringOptions clustering, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        ConnectAsync(clustering, new ClusterTlsOptions(), timeout, cancellationToken);

    /// <summary>Connects with the client certificate of <paramref name="tls"/> when it is configured (a cluster secured with mutual TLS).</summary>
    /// <param name="storageConnectionString">AzureTable clustering: the storage account whose tables hold the membership.</param>
    public static async Task<LvMaeClient> ConnectAsync(ClusteringOptions clustering, ClusterTlsOptions tls, TimeSpan? timeout = null, CancellationToken cancellationToken = default,
        string? storageConnectionString = null)
    {
        if (clustering.Mode == ClusteringMode.AzureTable && string.IsNullOrWhiteSpace(storageConnectionString))
            throw new LvMaeConfigurationException(["AzureTable clustering needs LvMae:Storage:ConnectionString (the account whose tables hold the membership)"]);
        var problems = clustering.Problems().Concat(tls.Enabled ? ClusterCredentials.Check(tls) : []).ToList();
        if (problems.Count > 0) throw new LvMaeConfigurationException(problems);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            if (clustering.Mode == ClusteringMode.Localhost)
                client.UseLocalhostClustering(clustering.GatewayPort, clustering.ServiceId, clustering.ClusterId);
            else
            {
                client.Configure<ClusterOptions>(o => { o.ClusterId = clustering.ClusterId; o.ServiceId = clustering.ServiceId; });
                if (clustering.Mode == ClusteringMode.AzureTable)
                    client.UseAzureStorageClustering(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(storageConnectionString));
                else
                    client.UseRedisClustering(o => o.ConfigurationOptions = RedisConfiguration.Parse(clustering.RedisConnectionString!));
            }
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            client.UseClusterTls(tls);
        });
        var host = builder.Build();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? await DefaultTimeoutAsync(clustering, cancellationToken));
        try
        {
            await host.StartAsync(cts.Token);
            return new LvMaeClient(host);
        }
        catch (Exception e) when (e is not LvMaeConfigurationException)
        {
            host.Dispose();
            var where = clustering.Mode switch
            {
                ClusteringMode.Localhost => $"a local silo on gateway port {clustering.GatewayPort} (127.0.0.1)",
                ClusteringMode.AzureTable => $"the cluster '{clustering.ClusterId}' registered in the storage account's tables ({RedactKey(storageConnectionString!)})",
                _ => $"the cluster '{clustering.ClusterId}' registered in Redis ({RedactPassword(clustering.RedisConnectionString!)})",
            };
            throw new SiloUnreachableException(
                $"no LvMae silo reachable: looked for {where}. Start one with `./lvmae up --detach` (or `./lvmae silo`), " +
                $"or point LVMAE__Clustering__* (see src/Silo/appsettings.json) at a running cluster. {TlsHint(clustering, tls)}({e.GetType().Name}: {e.Message})", e);
        }
    }

    /// <summary>
    /// How long a connect may take when the caller does not say. A local gateway port that accepts TCP connections is a
    /// silo, possibly a busy one: training and probing runs on 2 cores have made its handshake take longer than 8 s, and a
    /// command then said "no silo reachable" beside a running silo, so it gets a minute. Nothing listening (or another
    /// clustering mode, which looks silos up first) keeps the 8 s that a forgotten `lvmae up` deserves.
    /// </summary>
    private static async Task<TimeSpan> DefaultTimeoutAsync(ClusteringOptions clustering, CancellationToken cancellationToken)
    {
        if (clustering.Mode != ClusteringMode.Localhost) return TimeSpan.FromSeconds(8);
        using var tcp = new System.Net.Sockets.TcpClient();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(5));
        try { await tcp.ConnectAsync(IPAddress.Loopback, clustering.GatewayPort, cts.Token); }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return TimeSpan.FromSeconds(8);
        }
        return TimeSpan.FromSeconds(60);
    }

    /// <summary>A storage connection string without its account key or SAS (logs and errors never carry secrets).</summary>
    public static string RedactKey(string connection) =>
        string.Join(';', connection.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p =>
            p.TrimStart().StartsWith("AccountKey=", StringComparison.OrdinalIgnoreCase) ? "AccountKey=***"
            : p.TrimStart().StartsWith("SharedAccessSignature=", StringComparison.OrdinalIgnoreCase) ? "SharedAccessSignature=***" : p));

    // A secured cluster refuses clients without the right certificate; the connection just fails, so say what to check.
    private static string TlsHint(ClusteringOptions clustering, ClusterTlsOptions tls) =>
        tls.Enabled ? $"This client presents {tls.CertificatePath}: check that the cluster's CA ({tls.CaCertificatePath}) issued it and that the silos use TLS too. "
        : clustering.Mode == ClusteringMode.Localhost ? ""
        : "If the cluster is secured with TLS, set LVMAE__Tls__CertificatePath and LVMAE__Tls__CaCertificatePath. ";

    private static string RedactPassword(string connection) =>
        string.Join(',', connection.Split(',').Select(p => p.TrimStart().StartsWith("password=", StringComparison.OrdinalIgnoreCase) ? "password=***" : p));

    public async ValueTask DisposeAsync()
    {
        try { await _host.StopAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { }
        _host.Dispose();
    }
}
