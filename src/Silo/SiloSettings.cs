using System.Net;
using LvMae.Grains;
using LvMae.Storage;
using Microsoft.Extensions.Configuration;

namespace LvMae.Silo;

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

/// <summary>The HTTP JSON API and the Orleans dashboard (section LvMae:Api).</summary>
public sealed class ApiOptions
{
    public const string Section = "LvMae:Api";
    public bool Enabled { get; set; } = true;
    /// <summary>Bind address; 127.0.0.1 by default. Anything else requires <see cref="ApiKey"/>.</summary>
    public string Host { get; set; } = "127.0.0.1";
    /// <summary>0 = any free port (see <see cref="LvMaeSiloHost.ApiAddress"/>).</summary>
    public int Port { get; set; } = 5180;
    /// <summary>When set, every request but /health must carry it in the X-Api-Key header.</summary>
    public string? ApiKey { get; set; }
    public bool Dashboard { get; set; } = true;
    public string DashboardPath { get; set; } = "/dashboard";

    public bool IsLoopback => IPAddress.TryParse(Host, out var ip) ? IPAddress.IsLoopback(ip) : Host == "localhost";

    public IEnumerable<string> Problems()
    {
        if (!Enabled) yield break;
        if (Port is < 0 or > 65535) yield return $"LvMae:Api:Port must be 0..65535 (is {Port})";
        if (Host != "localhost" && !IPAddress.TryParse(Host, out _)) yield return $"LvMae:Api:Host '{Host}' is not an IP address or localhost";
        if (!IsLoopback && string.IsNullOrEmpty(ApiKey))
            yield return $"LvMae:Api:Host is {Host} (not loopback): set LvMae:Api:ApiKey (LVMAE__Api__ApiKey) so the API is not open to the network";
        if (ApiKey is { Length: > 0 and < 16 }) yield return "LvMae:Api:ApiKey must be at least 16 characters";
        if (!DashboardPath.StartsWith('/')) yield return "LvMae:Api:DashboardPath must start with '/'";
    }
}

/// <summary>Host logging (section LvMae:Logging).</summary>
public sealed class HostLoggingOptions
{
    public const string Section = "LvMae:Logging";
    public Microsoft.Extensions.Logging.LogLevel MinimumLevel { get; set; } = Microsoft.Extensions.Logging.LogLevel.Information;
    /// <summary>Orleans' own categories (chatty at Information).</summary>
    public Microsoft.Extensions.Logging.LogLevel OrleansLevel { get; set; } = Microsoft.Extensions.Logging.LogLevel.Warning;
}

/// <summary>Invalid configuration, with every problem listed.</summary>
public sealed class LvMaeConfigurationException(IReadOnlyList<string> problems)
    : Exception("invalid LvMae configuration:\n  - " + string.Join("\n  - ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>Everything a silo needs, one options class per concern; bound from appsettings.json + LVMAE__... env vars.</summary>
public sealed class LvMaeSiloSettings
{
    public StorageOptions Storage { get; set; } = new();
    public ClusteringOptions Clustering { get; set; } = new();
    public ProcessingOptions Processing { get; set; } = new();
    public IndexOptions Index { get; set; } = new();
    public ApiOptions Api { get; set; } = new();
    public HostLoggingOptions Logging { get; set; } = new();
    public ClusterTlsOptions Tls { get; set; } = new();

    /// <summary>appsettings.json (beside the binary and in the working folder), environment variables (LVMAE__Storage__ConnectionString ...) and --LvMae:... arguments.</summary>
    public static IConfiguration BuildConfiguration(string[]? args = null) =>
        new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args ?? [])
            .Build();

    public static LvMaeSiloSettings Load(IConfiguration configuration)
    {
        var settings = Bind(configuration, out var problems);
        if (problems.Count > 0) throw new LvMaeConfigurationException(problems);
        return settings;
    }

    /// <summary>Binds what binds; a value that does not convert keeps its default and is listed in <paramref name="problems"/>.</summary>
    public static LvMaeSiloSettings Bind(IConfiguration configuration, out List<string> problems)
    {
        var settings = new LvMaeSiloSettings();
        var found = new List<string>();
        // One key at a time, so that every value that does not convert is listed, not only the first.
        void BindSection(string section, object options)
        {
            foreach (var key in configuration.GetSection(section).GetChildren())
            {
                var single = new ConfigurationBuilder().AddInMemoryCollection(key.AsEnumerable().Where(p => p.Value is not null)).Build();
                try { single.GetSection(section).Bind(options); }
                catch (InvalidOperationException e) { found.Add(e.Message); }
            }
        }
        BindSection(StorageOptions.Section, settings.Storage);
        BindSection(ClusteringOptions.Section, settings.Clustering);
        BindSection(ProcessingOptions.Section, settings.Processing);
        BindSection(IndexOptions.Section, settings.Index);
        BindSection(ApiOptions.Section, settings.Api);
        BindSection(HostLoggingOptions.Section, settings.Logging);
        BindSection(ClusterTlsOptions.Section, settings.Tls);
        problems = found;
        return settings;
    }

    public IReadOnlyList<string> Problems() =>
        Storage.Problems().Concat(Clustering.Problems()).Concat(Processing.Problems()).Concat(Index.Problems()).Concat(Api.Problems()).Concat(Tls.Problems(Clustering)).ToList();

    /// <summary>Throws <see cref="LvMaeConfigurationException"/> listing every problem.</summary>
    public LvMaeSiloSettings Validate()
    {
        var problems = Problems();
        if (problems.Count > 0) throw new LvMaeConfigurationException(problems);
        return this;
    }
}
