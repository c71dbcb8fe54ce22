using LvMae.Contracts;
using LvMae.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LvMae.Silo.WebConsole;

/// <summary>
/// The operator's web console under /console, on the HTTP API's port and behind its API key (<see cref="StatusApi.UseLvMaeApiKey"/>):
/// server-rendered HTML, no script. Each endpoint reads what the matching JSON endpoint reads and hands it to a pure
/// renderer (<see cref="ConsolePages"/>); actions are HTML forms POSTing here, answered with a redirect (303) to the page.
/// Bad input gives an HTML error page with the JSON API's status (400, 404), anything unexpected a 500 page without details.
/// </summary>
public static class ConsoleEndpoints
{
    public const string Prefix = "/console";
    private const int CurvePoints = 200;

    public static IEndpointRouteBuilder MapLvMaeConsole(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup(Prefix).AddEndpointFilter(async (context, next) =>
        {
            try { return await next(context); }
            catch (Exception e) when (!context.HttpContext.RequestAborted.IsCancellationRequested)
            {
                context.HttpContext.RequestServices.GetService<ILoggerFactory>()?.CreateLogger("LvMae.Console").LogError(e, "console {Path} failed", context.HttpContext.Request.Path.Value);
                return Page(StatusCodes.Status500InternalServerError, ConsolePages.Error(500, "The silo could not answer this page (see its log). Try again in a moment."));
            }
        });
        console.MapGet("", Corpus);
        console.MapGet("/videos", Videos);
        console.MapGet("/videos/{id}", Video);
        console.MapPost("/videos/{id}/retry", Retry);
        console.MapGet("/runs", Runs);
        console.MapGet("/runs/{name}", Run);
        console.MapPost("/runs/{name}/stop", (string name, IGrainFactory grains) => RunAction(name, grains, "stop", run => run.Stop()));
        console.MapPost("/runs/{name}/resume", (string name, IGrainFactory grains) => RunAction(name, grains, "resume", run => run.Resume()));
        console.MapPost("/runs/{name}/delete", Delete);
        console.Map("/{**rest}", (HttpContext context) => Page(404, ConsolePages.Error(404, $"no console page '{StatusApi.Shown(context.Request.Path.Value ?? "")}'")));
        return app;
    }

    /// <summary>An HTML answer with <paramref name="status"/>, never cached (figures change).</summary>
    public static IResult Page(int status, string html) => new HtmlResult(status, html);

    private sealed class HtmlResult(int status, string html) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Headers["X-Content-Type-Options"] = "nosniff";
            context.Response.Headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'";
            return context.Response.WriteAsync(html, context.RequestAborted);
        }
    }

    private static IResult Ok(string html) => Page(StatusCodes.Status200OK, html);
    private static IResult Bad(string message) => Page(StatusCodes.Status400BadRequest, ConsolePages.Error(400, message));
    private static IResult Missing(string message) => Page(StatusCodes.Status404NotFound, ConsolePages.Error(404, message));
    private static IResult SeeOther(string location) => new SeeOtherResult(location);

    private sealed class SeeOtherResult(string location) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            context.Response.StatusCode = StatusCodes.Status303SeeOther;
            context.Response.Headers.Location = location;
            return Task.CompletedTask;
        }
    }

    /// <summary>The page's only query parameter besides the key: which action just happened (a notice), from a fixed set.</summary>
    private static string? Done(HttpContext context) => context.Request.Query["done"].ToString() switch
    {
        "retry" => "Retry requested: the video is queued again from its last good stage.",
        "stop" => "Stop requested: the run stops after the current step and checkpoints.",
        "resume" => "Resume requested.",
        "delete" => "The run was deleted.",
        _ => null,
    };

    private static async Task<IResult> Corpus(HttpContext context, IGrainFactory grains)
    {
        var summaryTask = grains.SummaryAsync();
        var failed = await grains.QueryAsync(new VideoQuery { Stage = VideoStage.Failed, Limit = ConsolePages.FailuresShown, CountMatches = false });
        var summary = await summaryTask;
        var tracker = context.RequestServices.GetService<IngestionTracker>() ?? new IngestionTracker();
        return Ok(ConsolePages.Corpus(summary, failed.Items, tracker.Observe(summary), Done(context)));
    }

    private static async Task<IResult> Videos(HttpContext context, IGrainFactory grains)
    {
        var (query, error) = StatusApi.ParseVideoQuery(context.Request.Query, blankIsUnset: true);
        if (query is null) return Bad(error!);
        try { return Ok(ConsolePages.Videos(query, await grains.QueryAsync(query))); }
        catch (ArgumentException e) { return Bad(e.Message); } // a cursor naming a shard the index does not have
    }

    private static async Task<IResult> Video(string id, HttpContext context, IGrainFactory grains)
    {
        if (!BlobLayout.IsValidId(id)) return Bad($"malformed video id '{StatusApi.Shown(id)}': ids use A-Z a-z 0-9 . _ - (1-128 characters)");
        var status = await grains.GetGrain<IVideoGrain>(id).GetStatus();
        return status.Exists ? Ok(ConsolePages.Video(status, Done(context))) : Missing($"no video '{id}'");
    }

    private static async Task<IResult> Retry(string id, HttpContext context, IGrainFactory grains)
    {
        if (!BlobLayout.IsValidId(id)) return Bad($"malformed video id '{StatusApi.Shown(id)}'");
        var grain = grains.GetGrain<IVideoGrain>(id);
        if (!(await grain.GetStatus()).Exists) return Missing($"no video '{id}'");
        await grain.Retry();
        var back = context.Request.HasFormContentType && (await context.Request.ReadFormAsync(context.RequestAborted))["return"] == "corpus";
        return SeeOther(back ? $"{Prefix}?done=retry" : ConsolePages.VideoHref(id) + "?done=retry");
    }

    private static async Task<IResult> Runs(HttpContext context, IGrainFactory grains) =>
        Ok(ConsolePages.Runs(await grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).List(), Done(context)));

    private static async Task<IResult> Run(string name, HttpContext context, IGrainFactory grains)
    {
        if (!BlobLayout.IsValidId(name)) return Bad($"malformed run name '{StatusApi.Shown(name)}'");
        var summaryTask = grains.GetGrain<IRunRegistryGrain>(IRunRegistryGrain.Key).Get(name);
        var progressTask = grains.GetGrain<ITrainingRunGrain>(name).GetProgress();
        var metricsTask = context.RequestServices.GetService<BlobStore>() is { } blobs
            ? StatusApi.LoadRunMetricsAsync(blobs, name, CurvePoints, context.RequestAborted) : Task.FromResult<RunMetricsView?>(null);
        var (summary, progress) = (await summaryTask, await progressTask);
        if (summary is null && progress.State == TrainingState.None) return Missing($"no run '{name}'");
        return Ok(ConsolePages.Run(summary, progress, await metricsTask, Done(context)));
    }

    private static async Task<IResult> RunAction(string name, IGrainFactory grains, string done, Func<ITrainingRunGrain, Task<TrainingProgress>> act)
    {
        if (!BlobLayout.IsValidId(name)) return Bad($"malformed run name '{StatusApi.Shown(name)}'");
        var run = grains.GetGrain<ITrainingRunGrain>(name);
        if ((await run.GetProgress()).State == TrainingState.None) return Missing($"no run '{name}'");
        await act(run);
        return SeeOther(ConsolePages.RunHref(name) + "?done=" + done);
    }

    private static async Task<IResult> Delete(string name, HttpContext context, IGrainFactory grains)
    {
        if (!BlobLayout.IsValidId(name)) return Bad($"malformed run name '{StatusApi.Shown(name)}'");
        var confirmed = context.Request.HasFormContentType && (await context.Request.ReadFormAsync(context.RequestAborted))["confirm"] == "yes";
        if (!confirmed) return Bad("tick the confirmation box to delete a run");
        var run = grains.GetGrain<ITrainingRunGrain>(name);
        if ((await run.GetProgress()).State == TrainingState.None) return Missing($"no run '{name}'");
        await run.Delete();
        return SeeOther($"{Prefix}/runs?done=delete");
    }
}
