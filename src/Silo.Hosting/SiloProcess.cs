using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using LvMae.Client;
using Microsoft.Extensions.Configuration;

namespace LvMae.Silo;

/// <summary>
/// One silo in the foreground until Ctrl+C or SIGTERM, configured from appsettings.json, LVMAE__... environment
/// variables and --LvMae:...=value arguments: what a machine of a cluster runs (the src/Silo executable and `lvmae silo`).
/// </summary>
public static class SiloProcess
{
    public const int Ok = 0, Failed = 1, BadConfiguration = 2;

    /// <summary>Settings and silo, the two steps of src/Silo's Program.cs, as `lvmae silo` runs them.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, Action<string> error, CancellationToken cancellationToken = default) =>
        TryLoadSettings(args, error, out var settings) ? await RunAsync(settings, output, error, cancellationToken) : BadConfiguration;

    /// <summary>
    /// A silo's settings from appsettings.json, LVMAE__Section__Key environment variables and --LvMae:Section:Key=value
    /// <paramref name="args"/>; false after reporting every problem at once (unknown keys, values that do not bind,
    /// settings that do not fit together) through <paramref name="error"/>.
    /// </summary>
    public static bool TryLoadSettings(string[] args, Action<string> error, [NotNullWhen(true)] out LvMaeSiloSettings? settings)
    {
        try
        {
            var configuration = LvMaeSiloSettings.BuildConfiguration(args);
            settings = LvMaeSiloSettings.Bind(configuration, out var bindProblems);
            var problems = UnknownKeys(configuration).Concat(bindProblems).Concat(settings.Problems()).ToList();
            if (problems.Count > 0) throw new LvMaeConfigurationException(problems);
            return true;
        }
        catch (LvMaeConfigurationException e)
        {
            error(e.Message);
            settings = null;
            return false;
        }
    }

    /// <summary>
    /// One silo (<see cref="LvMaeSiloHost"/>) in the foreground until Ctrl+C, SIGTERM or <paramref name="cancellationToken"/>:
    /// prints where it listens, then that it stopped. <see cref="Failed"/> after naming each busy port, or when it cannot start.
    /// </summary>
    public static async Task<int> RunAsync(LvMaeSiloSettings settings, TextWriter output, Action<string> error, CancellationToken cancellationToken = default)
    {
        if (SiloPorts.BusyMessage(settings) is { } busy)
        {
            error(busy);
            return Failed;
        }
        try
        {
            await using var host = await LvMaeSiloHost.StartAsync(settings, cancellationToken);
            await output.WriteLineAsync(Describe(settings, host.ApiAddress));
            await output.FlushAsync(cancellationToken);
            await host.WaitForShutdownAsync(cancellationToken);
            await output.WriteLineAsync("lvmae silo stopped (it left the cluster).");
            return Ok;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await output.WriteLineAsync("lvmae silo stopped (it left the cluster).");
            return Ok;
        }
        catch (Exception e) when (e is IOException || e.InnerException is IOException or System.Net.Sockets.SocketException)
        {
            error($"cannot start the silo: {e.Message}");
            return Failed;
        }
    }

    /// <summary>Where this silo listens and what it uses (no secrets: storage keys and the API key are not printed).</summary>
    public static string Describe(LvMaeSiloSettings settings, Uri? api)
    {
        var c = settings.Clustering;
        var listen = SiloNetwork.ListenAddress(c);
        var advertised = SiloNetwork.AdvertisedAddress(c);
        string At(int port) => Equals(listen, advertised) ? $"{listen}:{port}" : $"{listen}:{port}, advertised as {advertised}:{port}";
        var tls = settings.Tls.Enabled ? $"mutual TLS, certificate {settings.Tls.CertificatePath}, CA {settings.Tls.CaCertificatePath}" : "no TLS (loopback only)";
        var lines = new List<string>
        {
            $"lvmae silo running (pid {Environment.ProcessId}), cluster '{c.ClusterId}' (service '{c.ServiceId}', {c.Mode} membership)",
            $"  silo port    {At(c.SiloPort)}",
            $"  gateway      {At(c.GatewayPort)}",
            $"  security     {tls}",
            api is null ? "  HTTP API     disabled"
                : $"  HTTP API     {api}{(settings.Api.Dashboard ? $" (dashboard {new Uri(api, settings.Api.DashboardPath)})" : "")}{(string.IsNullOrEmpty(settings.Api.ApiKey) ? "" : ", X-Api-Key required")}",
            $"  storage      {DescribeStorage(settings.Storage.ConnectionString)}, container '{settings.Storage.Container}'",
            $"  jobs         {settings.Processing.MaxConcurrentJobs} concurrent ffmpeg/encoder jobs",
            "Ctrl+C or SIGTERM stops it.",
        };
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The storage account without its key: the blob endpoint, or the account name.</summary>
    public static string DescribeStorage(string connectionString)
    {
        var parts = new DbConnectionStringBuilder();
        try { parts.ConnectionString = connectionString; }
        catch (ArgumentException) { return "storage (connection string not shown)"; }
        string? Get(string key) => parts.TryGetValue(key, out var value) ? value?.ToString() : null;
        if (Get("UseDevelopmentStorage") is { } dev && dev.Equals("true", StringComparison.OrdinalIgnoreCase)) return "development storage (Azurite on 127.0.0.1:10000)";
        if (Get("BlobEndpoint") is { } endpoint) return endpoint;
        return Get("AccountName") is { } account ? $"account '{account}'" : "storage (connection string not shown)";
    }

    /// <summary>Keys under LvMae: that no options class has (a typo would otherwise be ignored silently).</summary>
    public static IReadOnlyList<string> UnknownKeys(IConfiguration configuration)
    {
        var sections = typeof(LvMaeSiloSettings).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => p.Name, p => p.PropertyType, StringComparer.OrdinalIgnoreCase);
        var unknown = new List<string>();
        foreach (var section in configuration.GetSection("LvMae").GetChildren())
        {
            if (!sections.TryGetValue(section.Key, out var type))
            {
                unknown.Add($"unknown setting section LvMae:{section.Key} (known: {string.Join(", ", sections.Keys)})");
                continue;
            }
            var keys = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name).ToList();
            foreach (var key in section.GetChildren().Where(k => !keys.Contains(k.Key, StringComparer.OrdinalIgnoreCase)))
                unknown.Add($"unknown setting LvMae:{section.Key}:{key.Key} (known in LvMae:{section.Key}: {string.Join(", ", keys)})");
        }
        return unknown;
    }
}
