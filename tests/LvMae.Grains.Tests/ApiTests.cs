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

    /// <summary>Malformed requests: (method, path and query, status, words the error must contain). Never a 500.</summary>
    public static TheoryData<string, string, int, string> MalformedRequests()
    {
        var longId = new string('a', 200);
        return new()
        {
            { "GET", "/videos/bad%20id", 400, "malformed video id 'bad id'" },
            { "GET", "/videos/.hidden", 400, "malformed video id '.hidden'" },
            { "GET", $"/videos/{longId}", 400, $"malformed video id '{longId[..64]}...'" },
            { "GET", "/videos/%C3%BCber", 400, "malformed video id 'über'" },
            { "GET", "/videos/..%2F..%2Fetc%2Fpasswd", 400, "malformed video id '..%2F..%2Fetc%2Fpasswd'" },
            { "GET", "/videos/a%00b", 400, "" }, // Kestrel refuses a NUL in the path itself, before routing (a 400 without a body)
            { "GET", "/videos/a%01b", 400, "malformed video id 'a\\u0001b'" },
            { "GET", "/videos?state=Bogus", 400, "unknown state 'Bogus' (use Registered," },
            { "GET", "/videos?state=7", 400, "unknown state '7'" },
            { "GET", "/videos?state=", 400, "unknown state ''" },
            { "GET", "/videos?limit=0", 400, "limit '0' must be a whole number from 1 to 10000" },
            { "GET", "/videos?limit=-1", 400, "limit '-1' must be" },
            { "GET", "/videos?limit=abc", 400, "limit 'abc' must be" },
            { "GET", "/videos?limit=99999999999999999999", 400, "limit '99999999999999999999' must be" },
            { "GET", "/videos?limit=1e3", 400, "limit '1e3' must be" },
            { "GET", "/videos?limit=10001", 400, "limit '10001' must be" },
            { "GET", "/videos?limit=1&limit=2", 400, "query parameter 'limit' is given more than once" },
            { "GET", "/videos?cursor=nonsense", 400, "malformed cursor 'nonsense'" },
            { "GET", "/videos?cursor=99999%3Av1", 400, "names shard 99999 but the index has" },
            { "GET", $"/videos?cursor=1%3A{new string('v', 2000)}", 400, "cursor '1:vvvv" },
            { "GET", $"/videos?label={new string('x', 2000)}", 400, "label 'xxxx" },
            { "GET", "/videos?encoder=%0A", 400, "encoder '\\u000A' must be 1 to 1024 characters without control characters" },
            { "GET", "/videos?stat=Failed", 400, "unknown query parameter 'stat' (use state, encoder, label, prefix, cursor, limit)" },
            { "GET", "/videos?prefix=v%2F1", 400, "prefix 'v/1' must be 1 to 128 characters" },
            { "POST", "/videos/bad%20id/retry", 400, "malformed video id 'bad id'" },
            { "GET", "/runs/bad%20name", 400, "malformed run name 'bad name'" },
            { "GET", $"/runs/{longId}", 400, "malformed run name" },
            { "GET", "/runs/bad%20name/progress", 400, "malformed run name 'bad name'" },
            { "GET", "/runs/.x/progress", 400, "malformed run name '.x'" },
            { "POST", "/videos", 405, "" },
            { "DELETE", "/videos/v1", 405, "" },
        };
    }

    [Fact]
    public async Task Malformed_requests_get_a_400_naming_what_is_wrong_never_a_500()
    {
        var (app, http) = await StartApiAsync();
        await using var _ = app;
        using var __ = http;
        foreach (var (method, url, status, words) in MalformedRequests().Select(r => ((string)r[0], (string)r[1], (int)r[2], (string)r[3])))
        {
            using var response = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(status == (int)response.StatusCode, $"{method} {url}: {(int)response.StatusCode} {body}");
            if (status != 400 || words.Length == 0) continue;
            Assert.True(body.Length > 0, $"{method} {url}: 400 without a message");
            var error = JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()!;
            Assert.True(error.Contains(words, StringComparison.Ordinal), $"{method} {url}: '{error}' does not say '{words}'");
        }
        // The well-formed neighbours of those requests work.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/videos?limit=5&state=failed&label=x")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/videos?limit=10000")).StatusCode);
    }

    [Fact]
    public async Task Bad_api_keys_are_refused_with_401_never_500()
    {
        var (app, http) = await StartApiAsync(apiKey: "0123456789abcdef-secret");
        await using var _ = app;
        using var __ = http;
        foreach (var key in new[] { "", " ", new string('k', 16_000), "0123456789abcdef-secre", "0123456789abcdef-secret-", "%00", "\"quoted\"" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/corpus/summary");
            request.Headers.TryAddWithoutValidation(StatusApi.ApiKeyHeader, key);
            request.Headers.TryAddWithoutValidation("Cookie", $"{StatusApi.ApiKeyCookie}={key.Replace(';', '_')}");
            using var response = await http.SendAsync(request);
            Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.BadRequest, $"key of {key.Length} chars: {(int)response.StatusCode}");
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/corpus/summary?apikey=")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"/videos?apikey={new string('k', 4000)}")).StatusCode);
        // The browser's ?apikey= is not an unknown query parameter of /videos.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/videos?apikey=0123456789abcdef-secret&limit=1")).StatusCode);
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
