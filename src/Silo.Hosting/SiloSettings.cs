using System.Net;
using LvMae.Client;
using LvMae.Grains;
using LvMae.Grains.Training;
using Microsoft.Extensions.Configuration;

namespace LvMae.Silo;

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

/// <summary>Everything a silo needs: a client's settings (storage, clustering, TLS) and, one options class per concern,
/// processing, the index, the HTTP API and logging; bound from appsettings.json + LVMAE__... env vars.</summary>
public sealed class LvMaeSiloSettings : LvMaeClientSettings
{
    public ProcessingOptions Processing { get; set; } = new();
    public IndexOptions Index { get; set; } = new();
    public ApiOptions Api { get; set; } = new();
    public HostLoggingOptions Logging { get; set; } = new();
    public TrainingOptions Training { get; set; } = new();

    public static new LvMaeSiloSettings Load(IConfiguration configuration)
    {
        var settings = Bind(configuration, out var problems);
        if (problems.Count > 0) throw new LvMaeConfigurationException(problems);
        return settings;
    }

    /// <summary>Binds what binds; a value that does not convert keeps its default and is listed in <paramref name="problems"/>.</summary>
    public static LvMaeSiloSettings Bind(IConfiguration configuration, out List<string> problems)
    {
        var settings = new LvMaeSiloSettings();
        problems = settings.BindFrom(configuration);
        return settings;
    }

    protected override IEnumerable<(string Section, object Options)> Sections() =>
        [.. base.Sections(), (ProcessingOptions.Section, Processing), (IndexOptions.Section, Index), (ApiOptions.Section, Api), (HostLoggingOptions.Section, Logging), (TrainingOptions.Section, Training)];

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
