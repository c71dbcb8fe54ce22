using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LvMae.Contracts;
using LvMae.Grains;
using LvMae.Grains.Training;
using LvMae.Runs;
using LvMae.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace LvMae.Silo;

/// <summary>
/// The HTTP JSON API: GET /videos/{id}, GET /videos?state=&amp;encoder=&amp;label=&amp;cursor=&amp;limit=, GET /corpus/summary,
/// GET /runs, GET /runs/{name}, GET /runs/{name}/progress, GET /runs/{name}/metrics?rows=, GET /runs/{name}/plot (PNG),
/// POST /runs/{name}/stop, POST /runs/{name}/resume, DELETE /runs/{name}, GET /silo/jobs (this silo's bounded ffmpeg/encoder jobs),
/// GET /silo/storage (requests and bytes this silo sent to storage, by category; its scratch bytes), GET /health. Malformed ids/filters give 400, unknown ids 404. Queries read the corpus index.
/// </summary>
public static class StatusApi
{
    public const string ApiKeyHeader = "X-Api-Key";

    public static IEndpointRouteBuilder MapLvMaeApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        app.MapGet("/videos/{id}", GetVideo);
        app.MapGet("/videos", ListVideos);
        app.MapPost("/videos/{id}/retry", RetryVideo);
        app.MapGet("/corpus/summary", Summary);
        app.MapGet("/runs", ListRuns);
        app.MapGet("/runs/{name}", GetRun);
        app.MapGet("/runs/{name}/progress", async (string name, IGrainFactory grains) => BlobLayout.IsValidId(name) ? Results.Ok(await grains.GetGrain<ITrainingRunGrain>(name).GetProgress()) : BadRequest($"malformed run name '{Shown(name)}'")); // live training progress (src/Grains/Training)
        app.MapGet("/runs/{name}/metrics", RunMetrics);
        app.MapGet("/runs/{name}/plot", RunPlot);
        app.MapPost("/runs/{name}/stop", (string name, IGrainFactory grains) => RunAction(name, grains, async run => await run.Stop()));
        app.MapPost("/runs/{name}/resume", (string name, IGrainFactory grains) => RunAction(name, grains, async run => await run.Resume()));
        app.MapDelete("/runs/{name}", (string name, IGrainFactory grains) => RunAction(name, grains, async run => { await run.Delete(); return null; }));
        app.MapGet("/silo/jobs", (HttpContext context) =>
            context.RequestServices.GetService(typeof(MediaJobLimiter)) is MediaJobLimiter limiter
                ? Results.Ok(new { capacity = limiter.Capacity, running = limiter.Running, waiting = limiter.Waiting, completed = limiter.Completed, peakRunning = limiter.PeakRunning })
                : NotFound("this host runs no silo"));
        app.MapGet("/silo/storage", (HttpContext context) =>
            context.RequestServices.GetService(typeof(StorageTraffic)) is StorageTraffic traffic
                ? Results.Ok(new { categories = traffic.Snapshot(), scratchBytes = (context.RequestServices.GetService(typeof(ScratchSpace)) as ScratchSpace)?.Bytes() })
                : NotFound("this host runs no silo"));
        return app;
    }

    public static async Task<IResult> GetVideo(string id, IGrainFactory grains)
    {
        if (!BlobLayout.IsValidId(id)) return BadRequest($"malformed video id '{Shown(id)}'");
        var status = await grains.GetGrain<IVideoGrain>(id).GetStatus();
        return status.Exists ? Results.Ok(status) : NotFound($"no video '{id}'");
    }

    /// <summary>POST /videos/{id}/retry: a Failed video goes back to its last good stage and is queued again (<see cref="IVideoGrain.Retry"/>;
    /// a no-op for a video that is not Failed); its status back. 400 malformed id, 404 unknown.</summary>
    public static async Task<IResult> RetryVideo(string id, IGrainFactory grains)
    {
        if (!BlobLayout.IsValidId(id)) return BadRequest($"malformed video id '{Shown(id)}'");
        var grain = grains.GetGrain<IVideoGrain>(id);
        if (!(await grain.GetStatus()).Exists) return NotFound($"no video '{id}'");
        return Results.Ok(await grain.Retry());
    }

    /// <summary>The query parameters GET /videos understands; anything else is a 400 (a typo like ?stat= must not list everything).</summary>
    public static readonly IReadOnlyList<string> VideoQueryKeys = ["state", "encoder", "label", "prefix", "cursor", "limit"];

    public const int MaxLimit = 10_000;
    private const int MaxFilterLength = 1024;

    /// <summary>
    /// GET /videos: every parameter is read as text and checked here, so a malformed one is a 400 that names it
    /// (a limit of 99999999999 or "abc" would otherwise fail model binding with an empty 400, or worse).
    /// </summary>
    public static async Task<IResult> ListVideos(HttpContext context, IGrainFactory grains)
    {
        var (query, error) = ParseVideoQuery(context.Request.Query, blankIsUnset: false);
        if (query is null) return BadRequest(error!);
        try { return Results.Ok(await grains.QueryAsync(query)); }
        catch (ArgumentException e) { return BadRequest(e.Message); } // a cursor naming a shard the index does not have
    }

    /// <summary>
    /// The <see cref="VideoQuery"/> of a GET /videos (or console video list) query string, or the message of a 400 naming the
    /// first unknown or repeated parameter, bad state, limit outside 1..<see cref="MaxLimit"/>, malformed cursor or prefix, or
    /// filter over 1024 characters or with control characters. <paramref name="blankIsUnset"/>: an empty value means "any"
    /// (what an HTML form sends for an empty field); the JSON API refuses it.
    /// </summary>
    public static (VideoQuery? Query, string? Error) ParseVideoQuery(IQueryCollection query, bool blankIsUnset)
    {
        if (query.Keys.FirstOrDefault(k => !VideoQueryKeys.Contains(k, StringComparer.OrdinalIgnoreCase) && !k.Equals(ApiKeyQuery, StringComparison.OrdinalIgnoreCase)) is { } unknown)
            return (null, $"unknown query parameter '{Shown(unknown)}' (use {string.Join(", ", VideoQueryKeys)})");
        if (query.FirstOrDefault(kv => kv.Value.Count > 1) is { Key: { } repeated })
            return (null, $"query parameter '{Shown(repeated)}' is given more than once");
        string? Get(string key) => query.TryGetValue(key, out var v) && !(blankIsUnset && string.IsNullOrWhiteSpace(v.ToString())) ? v.ToString() : null;
        var (state, encoder, label, prefix, cursor, limitText) = (Get("state"), Get("encoder"), Get("label"), Get("prefix"), Get("cursor"), Get("limit"));

        VideoStage? stage = null;
        if (state is not null)
        {
            if (!Enum.TryParse<VideoStage>(state, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(state, out _))
                return (null, $"unknown state '{Shown(state)}' (use {string.Join(", ", Enum.GetNames<VideoStage>())})");
            stage = parsed;
        }
        var limit = 100;
        if (limitText is not null && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
            return (null, $"limit '{Shown(limitText)}' must be a whole number from 1 to {MaxLimit}");
        foreach (var (name, value) in new[] { ("encoder", encoder), ("label", label), ("cursor", cursor) })
            if (value is not null && (value.Length is 0 or > MaxFilterLength || value.Any(char.IsControl)))
                return (null, $"{name} '{Shown(value)}' must be 1 to {MaxFilterLength} characters without control characters");
        if (prefix is not null && (prefix.Length is 0 or > 128 || !prefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')))
            return (null, $"prefix '{Shown(prefix)}' must be 1 to 128 characters from A-Z a-z 0-9 . _ - (the start of a video id)");
        try { CorpusIndex.ParseCursor(cursor); }
        catch (ArgumentException e) { return (null, e.Message); }
        return (new VideoQuery { Stage = stage, Encoder = encoder, Label = label, IdPrefix = prefix, Cursor = cursor, Limit = limit }, null);
    }

    /// <summary>A request value as an error message repeats it: at most 64 characters, control characters escaped.</summary>
    public static string Shown(string value)
    {
        var shown = value.Length > 64 ? value[..64] + "..." : value;
        return string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString()));
    }

    public static async Task<IResult> Summary(IGrainFactory grains) => Results.Ok(await grains.SummaryAsync());

    public static async Task<IResult> ListRuns(IGrainFactory grains) =>
        Results.Ok(await grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).List());

    public static async Task<IResult> GetRun(string name, IGrainFactory grains)
    {
        if (!BlobLayout.IsValidId(name)) return BadRequest($"malformed run name '{Shown(name)}'");
        var run = await grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Get(name);
        return run is null ? NotFound($"no run '{name}'") : Results.Ok(run);
    }

    /// <summary>A lifecycle call on an existing run: 400 for a malformed name, 404 for an unknown run, else the new progress (204 after delete).</summary>
    private static async Task<IResult> RunAction(string name, IGrainFactory grains, Func<ITrainingRunGrain, Task<TrainingProgress?>> act)
    {
        if (!BlobLayout.IsValidId(name)) return BadRequest($"malformed run name '{name}'");
        var run = grains.GetGrain<ITrainingRunGrain>(name);
        if ((await run.GetProgress()).State == TrainingState.None) return NotFound($"no run '{name}'");
        return await act(run) is { } progress ? Results.Ok(progress) : Results.NoContent();
    }

    /// <summary>The run's metrics.jsonl condensed to about <paramref name="rows"/> rows (step, epoch, mean loss, lr, tokens/s) and its probe history.</summary>
    public static async Task<IResult> RunMetrics(string name, HttpContext context, int? rows = null)
    {
        if (!BlobLayout.IsValidId(name)) return BadRequest($"malformed run name '{name}'");
        if (rows is < 1 or > 10_000) return BadRequest("rows must be 1..10000");
        if (context.RequestServices.GetService(typeof(BlobStore)) is not BlobStore blobs) return NotFound("this host has no blob store");
        var metrics = await LoadRunMetricsAsync(blobs, name, rows ?? 50, context.RequestAborted);
        return metrics is null ? NotFound($"no metrics for run '{name}'") : Results.Ok(metrics);
    }

    /// <summary>What GET /runs/{name}/metrics answers (and the console draws): null when the run logged nothing yet.</summary>
    public static async Task<RunMetricsView?> LoadRunMetricsAsync(BlobStore blobs, string name, int rows, CancellationToken cancellationToken)
    {
        var history = await new RunMetricsLog(blobs, name).ReadAsync(cancellationToken);
        return history.Steps.Count == 0 && history.Probes.Count == 0 ? null : new RunMetricsView(history.Condensed(rows), history.Probes);
    }

    public static async Task<IResult> RunPlot(string name, HttpContext context)
    {
        if (!BlobLayout.IsValidId(name)) return BadRequest($"malformed run name '{name}'");
        if (context.RequestServices.GetService(typeof(BlobStore)) is not BlobStore blobs) return NotFound("this host has no blob store");
        var png = await blobs.TryDownloadAsync(BlobLayout.RunPlot(name, RunPlotter.TrainingPlot), context.RequestAborted);
        return png is null ? NotFound($"no plot for run '{name}'") : Results.File(png, "image/png");
    }

    public const string ApiKeyCookie = "lvmae-api-key";
    public const string ApiKeyQuery = "apikey";

    /// <summary>
    /// Requires the API key on every path but /health (dashboard included) when one is configured: header X-Api-Key, or
    /// (for browsers, which cannot add headers: the dashboard) once as ?apikey=... which sets an HttpOnly cookie.
    /// </summary>
    public static IApplicationBuilder UseLvMaeApiKey(this IApplicationBuilder app, string? apiKey)
    {
        if (string.IsNullOrEmpty(apiKey)) return app;
        var expected = Encoding.UTF8.GetBytes(apiKey);
        bool Matches(string? given) => given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), expected);
        return app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/health")) { await next(context); return; }
            if (Matches(context.Request.Headers[ApiKeyHeader].ToString()) || Matches(context.Request.Cookies[ApiKeyCookie]) || Matches(Bearer(context)))
            {
                await next(context);
                return;
            }
            if (Matches(context.Request.Query[ApiKeyQuery].ToString()))
            {
                context.Response.Cookies.Append(ApiKeyCookie, apiKey, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, IsEssential = true });
                await next(context);
                return;
            }
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            if (context.Request.Path.StartsWithSegments(WebConsole.ConsoleEndpoints.Prefix))
            {
                await WebConsole.ConsoleEndpoints.Page(StatusCodes.Status401Unauthorized, WebConsole.ConsolePages.Unauthorized(HttpMethods.IsGet(context.Request.Method) ? context.Request.Path.Value ?? "/console" : "/console")).ExecuteAsync(context);
                return;
            }
            await context.Response.WriteAsJsonAsync(new { error = $"missing or wrong {ApiKeyHeader} header (browsers: add ?apikey=... once)" });
        });
    }

    /// <summary>"Authorization: Bearer KEY", how scrapers (Prometheus' authorization.credentials) send a key.</summary>
    private static string? Bearer(HttpContext context) =>
        context.Request.Headers.Authorization.ToString() is var value && value.StartsWith("Bearer ", StringComparison.Ordinal) ? value["Bearer ".Length..].Trim() : null;

    private static IResult BadRequest(string message) => Results.BadRequest(new { error = message });
    private static IResult NotFound(string message) => Results.NotFound(new { error = message });
}

/// <summary>GET /runs/{name}/metrics: about <c>rows</c> condensed steps (step, epoch, mean loss, lr, tokens/s) and the probe history.</summary>
public sealed record RunMetricsView(IReadOnlyList<StepPoint> Steps, IReadOnlyList<ProbePoint> Probes);
