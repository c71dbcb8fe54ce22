using System.Net;
using LvMae.Storage;
using Microsoft.Extensions.Configuration;

namespace LvMae.Client;

/// <summary>
/// The storage account (section LvMae:Storage; env LVMAE__Storage__ConnectionString): data blobs in <see cref="Container"/>,
/// grain state in "&lt;Container&gt;-state", reminders and (AzureTable clustering) membership in its tables.
/// </summary>
public sealed class StorageOptions
{
    public const string Section = "LvMae:Storage";
    /// <summary>Azure Storage connection string with blob and table endpoints; Azurite: UseDevelopmentStorage=true (ports 10000/10002) or an explicit one.</summary>
    public string ConnectionString { get; set; } = "UseDevelopmentStorage=true";
    public string Container { get; set; } = BlobLayout.DefaultContainer;

    public IEnumerable<string> Problems()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString)) yield return "LvMae:Storage:ConnectionString is empty";
        if (!BlobLayout.IsValidContainerName(Container))
            yield return $"LvMae:Storage:Container '{Container}' is not a valid blob container name (3-63 of a-z 0-9 -)";
    }
}

/// <summary>Cluster membership: Localhost (one machine), AzureTable (the storage account's tables: multi-machine, the default for
/// a cluster), or Redis.</summary>
public enum ClusteringMode { Localhost, AzureTable, Redis }

/// <summary>Cluster membership (section LvMae:Clustering).</summary>
public sealed class ClusteringOptions
{
    public const string Section = "LvMae:Clustering";
    /// <summary>Localhost (one machine, development), AzureTable (multi-machine: membership in the storage account's tables,
    /// every silo and client names the same account) or Redis (multi-machine: every silo and client names the same Redis).</summary>
    public ClusteringMode Mode { get; set; } = ClusteringMode.Localhost;
    public string ClusterId { get; set; } = "lvmae";
    public string ServiceId { get; set; } = "lvmae";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    /// <summary>Redis mode: StackExchange.Redis configuration, e.g. "10.0.0.5:6379,password=...".</summary>
    public string? RedisConnectionString { get; set; }
    /// <summary>AzureTable and Redis modes: the address other silos and clients reach this silo at (default: the first non-loopback IPv4).</summary>
    public string? AdvertisedIPAddress { get; set; }
    /// <summary>Localhost mode, extra silos on the same machine: the first silo's silo port.</summary>
    public int? PrimarySiloPort { get; set; }

    public IEnumerable<string> Problems()
    {
        if (SiloPort is < 1 or > 65535) yield return $"LvMae:Clustering:SiloPort must be 1..65535 (is {SiloPort})";
        if (GatewayPort is < 1 or > 65535) yield return $"LvMae:Clustering:GatewayPort must be 1..65535 (is {GatewayPort})";
        if (SiloPort == GatewayPort) yield return "LvMae:Clustering:SiloPort and GatewayPort must differ";
        if (string.IsNullOrWhiteSpace(ClusterId) || string.IsNullOrWhiteSpace(ServiceId)) yield return "LvMae:Clustering:ClusterId and ServiceId must be set";
        if (Mode == ClusteringMode.Redis && string.IsNullOrWhiteSpace(RedisConnectionString))
            yield return "LvMae:Clustering:RedisConnectionString is required when Mode is Redis";
        if (AdvertisedIPAddress is not null && !IPAddress.TryParse(AdvertisedIPAddress, out _))
            yield return $"LvMae:Clustering:AdvertisedIPAddress '{AdvertisedIPAddress}' is not an IP address";
    }
}

/// <summary>Invalid configuration, with every problem listed.</summary>
public sealed class LvMaeConfigurationException(IReadOnlyList<string> problems)
    : Exception("invalid LvMae configuration:\n  - " + string.Join("\n  - ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// What a client of the cluster needs (the CLI, tools, tests): the storage account, the cluster membership and its TLS
/// credentials; bound from appsettings.json + LVMAE__... env vars. A silo's settings extend these (src/Silo.Hosting).
/// </summary>
public class LvMaeClientSettings
{
    public StorageOptions Storage { get; set; } = new();
    public ClusteringOptions Clustering { get; set; } = new();
    public ClusterTlsOptions Tls { get; set; } = new();

    /// <summary>appsettings.json (beside the binary and in the working folder), environment variables (LVMAE__Storage__ConnectionString ...) and --LvMae:... arguments.</summary>
    public static IConfiguration BuildConfiguration(string[]? args = null) =>
        new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args ?? [])
            .Build();

    /// <summary>The client settings of <paramref name="configuration"/>; throws <see cref="LvMaeConfigurationException"/> listing every value that does not convert.</summary>
    public static LvMaeClientSettings Load(IConfiguration configuration)
    {
        var settings = new LvMaeClientSettings();
        var problems = settings.BindFrom(configuration);
        if (problems.Count > 0) throw new LvMaeConfigurationException(problems);
        return settings;
    }

    /// <summary>Binds what binds; a value that does not convert keeps its default and is returned as a problem.</summary>
    public List<string> BindFrom(IConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var (section, options) in Sections())
        {
            // One key at a time, so that every value that does not convert is listed, not only the first.
            foreach (var key in configuration.GetSection(section).GetChildren())
            {
                var single = new ConfigurationBuilder().AddInMemoryCollection(key.AsEnumerable().Where(p => p.Value is not null)).Build();
                try { single.GetSection(section).Bind(options); }
                catch (InvalidOperationException e) { problems.Add(e.Message); }
            }
        }
        return problems;
    }

    /// <summary>Each configuration section with the options object it binds to.</summary>
    protected virtual IEnumerable<(string Section, object Options)> Sections() =>
        [(StorageOptions.Section, Storage), (ClusteringOptions.Section, Clustering), (ClusterTlsOptions.Section, Tls)];
}
