using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using LvMae.Contracts;
using LvMae.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LvMae.Grains.Tests;

/// <summary>The HTTP API's handlers on a real Kestrel (127.0.0.1, free port) over the real test cluster.</summary>
[Collection(GrainsClusterCollection.Name)]
public sealed class ApiTests(GrainsClusterFixture fixture)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private Task<(WebApplication App, HttpClient Http)> StartApiAsync(string? apiKey = null) => StartApiAsync(fixture.Client, null, apiKey);

    /// <summary>The API on a real Kestrel (127.0.0.1, free port) over <paramref name="grains"/> (and a blob store for the run endpoints).</summary>
    internal static async Task<(WebApplication App, HttpClient Http)> StartApiAsync(IGrainFactory grains, LvMae.Storage.BlobStore? blobs, string? apiKey = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton(grains);
        if (blobs is not null) builder.Services.AddSingleton(blobs);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
        var app = builder.Build();
        app.UseLvMaeApiKey(apiKey);
        app.MapLvMaeApi();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new HttpClient { BaseAddress = new Uri(address) });
    }

    [Fact]
    public async Task Status_codes_and_bodies()
    {
        var path = await fixture.NewVideoAsync(6, "cellauto");
        var ingested = await fixture.Ingestor.IngestFileAsync(path, "builtin", ["api"]);
        await fixture.WaitForIndexAsync([ingested.VideoId], TimeSpan.FromSeconds(120));
        await fixture.Client.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Upsert(new RunSummary { Name = "run-a", State = "Training", Step = 12 });

        var (app, http) = await StartApiAsync();
        await using var _ = app;
        using var __ = http;

        var video = await http.GetAsync($"/videos/{ingested.VideoId}");
        Assert.Equal(HttpStatusCode.OK, video.StatusCode);
        var status = await video.Content.ReadFromJsonAsync<VideoStatus>(Json);
        Assert.Equal(VideoStage.Embedded, status!.Stage);
        Assert.Contains("\"stage\":\"Embedded\"", await video.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/videos/v-unknown-video")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/videos/bad%20id")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/videos/.hidden")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/videos?state=Bogus")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/videos?state=7")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/videos?limit=0")).StatusCode);

        var list = await http.GetFromJsonAsync<VideoPage>("/videos?state=embedded&label=api", Json);
        Assert.Contains(list!.Items, e => e.Id == ingested.VideoId);

        var summary = await http.GetFromJsonAsync<CorpusSummary>("/corpus/summary", Json);
        Assert.True(summary!.ByStage[VideoStage.Embedded] >= 1);

        var runs = await http.GetFromJsonAsync<List<RunSummary>>("/runs", Json);
        Assert.Contains(runs!, r => r.Name == "run-a");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/runs/run-a")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/runs/run-nope")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/runs/bad%20name")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task Api_key_is_required_when_configured()
    {
        var (app, http) = await StartApiAsync(apiKey: "0123456789abcdef-secret");
        await using var _ = app;
        using var __ = http;
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/corpus/summary")).StatusCode);
        http.DefaultRequestHeaders.Add(StatusApi.ApiKeyHeader, "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/corpus/summary")).StatusCode);
        http.DefaultRequestHeaders.Remove(StatusApi.ApiKeyHeader);
        http.DefaultRequestHeaders.Add(StatusApi.ApiKeyHeader, "0123456789abcdef-secret");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/corpus/summary")).StatusCode);
        http.DefaultRequestHeaders.Remove(StatusApi.ApiKeyHeader);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);

        // Browsers (the dashboard): ?apikey= once sets a cookie that carries the key afterwards.
        var cookies = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = http.BaseAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/corpus/summary?apikey=wrong")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/corpus/summary?apikey=0123456789abcdef-secret")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/corpus/summary")).StatusCode);
    }
}
