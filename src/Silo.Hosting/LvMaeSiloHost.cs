using System.Net;
using System.Text.Json.Serialization;
using LvMae.Client;
using LvMae.Grains;
using LvMae.Grains.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;
using LvMae.Silo.WebConsole;
using RedisConfiguration = StackExchange.Redis.ConfigurationOptions;

namespace LvMae.Silo;

/// <summary>
/// An LvMae silo: Orleans (localhost or Redis clustering), blob grain storage, the grains and their per-silo services,
/// the HTTP JSON API and the Orleans dashboard on 127.0.0.1. Used by the silo executable and in-process by `lvmae up`/`demo`.
/// </summary>
public sealed class LvMaeSiloHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LvMaeSiloHost(WebApplication app, LvMaeSiloSettings settings)
    {
        _app = app;
        Settings = settings;
    }

    public LvMaeSiloSettings Settings { get; }
    public IServiceProvider Services => _app.Services;
    public IGrainFactory Grains => _app.Services.GetRequiredService<IGrainFactory>();
    /// <summary>The API's base address (actual port when configured as 0); null when the API is disabled.</summary>
    public Uri? ApiAddress { get; private set; }
    public MediaJobLimiter Limiter => _app.Services.GetRequiredService<MediaJobLimiter>();

    /// <summary>Validates <paramref name="settings"/> (throws <see cref="LvMaeConfigurationException"/>), builds and starts the silo.
    /// <paramref name="configureSilo"/> runs on the Orleans silo builder before LvMae's own registrations (tests replace a
    /// service there: LvMae registers its defaults with TryAdd).</summary>
    public static async Task<LvMaeSiloHost> StartAsync(LvMaeSiloSettings settings, CancellationToken cancellationToken = default, Action<ISiloBuilder>? configureSilo = null)
    {
        var host = new LvMaeSiloHost(Build(settings, configureSilo), settings);
        await host._app.StartAsync(cancellationToken);
        if (settings.Api.Enabled)
        {
            var address = host._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
            host.ApiAddress = address is null ? null : new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        }
        return host;
    }

    public static WebApplication Build(LvMaeSiloSettings settings, Action<ISiloBuilder>? configureSilo = null)
    {
        settings.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(settings.Logging.MinimumLevel);
        builder.Logging.AddFilter("Orleans", settings.Logging.OrleansLevel);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Polly", LogLevel.Warning); // Orleans' placement pipeline logs every attempt at Information

        var api = settings.Api;
        if (api.Enabled)
            builder.WebHost.ConfigureKestrel(k => k.Listen(api.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(api.Host), api.Port));
        else
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0)); // Kestrel needs an endpoint; nothing is mapped.

        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
        builder.UseOrleans(silo =>
        {
            configureSilo?.Invoke(silo);
            ConfigureSilo(silo, settings);
        });
        if (api.Enabled)
        {
            builder.Services.AddSingleton<IngestionTracker>();
            builder.Services.AddHostedService<SiloMetrics>();
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(LvMae.Pipeline.Telemetry.LvMaeMetrics.MeterName, SiloMetrics.MeterName, "Microsoft.Orleans")
                .AddPrometheusExporter());
        }

        var app = builder.Build();
        if (api.Enabled)
        {
            app.UseLvMaeApiKey(api.ApiKey);
            app.MapLvMaeApi();
            app.MapLvMaeConsole(); // /console: the operator's web console (src/Silo.Hosting/WebConsole), same key rules
            app.MapPrometheusScrapingEndpoint("/metrics"); // same API key rules; Prometheus sends it as a bearer token
            if (api.Dashboard) app.MapOrleansDashboard(routePrefix: api.DashboardPath);
        }
        return app;
    }

    /// <summary>Clustering, storage, grains and dashboard on an Orleans silo builder.</summary>
    public static void ConfigureSilo(ISiloBuilder silo, LvMaeSiloSettings settings)
    {
        var c = settings.Clustering;
        var traffic = new LvMae.Storage.StorageTraffic();
        if (c.Mode == ClusteringMode.Localhost)
        {
            var primary = c.PrimarySiloPort is { } p ? new IPEndPoint(IPAddress.Loopback, p) : null;
            silo.UseLocalhostClustering(c.SiloPort, c.GatewayPort, primary, c.ServiceId, c.ClusterId);
        }
        else
        {
            silo.Configure<ClusterOptions>(o => { o.ClusterId = c.ClusterId; o.ServiceId = c.ServiceId; });
            silo.ConfigureEndpoints(SiloNetwork.AdvertisedAddress(c), c.SiloPort, c.GatewayPort, listenOnAnyHostAddress: SiloNetwork.ListensBeyondLoopback(c));
            if (c.Mode == ClusteringMode.AzureTable)
                silo.UseAzureStorageClustering(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(settings.Storage.ConnectionString, GrainsHosting.TableOptions(traffic)));
            else
                silo.UseRedisClustering(o => o.ConfigurationOptions = RedisConfiguration.Parse(c.RedisConnectionString!));
        }
        silo.UseClusterTls(settings.Tls);
        silo.AddLvMaeTraining(settings.Training.CopyTo);
        silo.AddLvMaeGrains(settings.Storage.ConnectionString, settings.Storage.Container, settings.Processing, settings.Index, traffic);
        if (settings.Api.Enabled && settings.Api.Dashboard) silo.AddDashboard();
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken = default) => await _app.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try { await _app.StopAsync(); }
        catch (Exception) { /* already stopped or stopping */ }
        await _app.DisposeAsync();
    }
}
