using LvMae.Contracts;
using LvMae.Grains.Training;
using LvMae.Runs;
using LvMae.Silo;
using LvMae.Silo.WebConsole;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace LvMae.Grains.Tests;

/// <summary>The console's renderers as pure functions (no silo): encoding, figures, actions, paging links, error pages.</summary>
public sealed class ConsolePagesTests
{
    private const string Hostile = "<script>alert('x')</script>&\"";

    private static void NoRawHostile(string html)
    {
        Assert.DoesNotContain("<script>", html);
        Assert.DoesNotContain("alert('x')", html);
        Assert.Contains("&lt;script&gt;", html);
    }

    [Fact]
    public void Corpus_page_shows_the_summary_figures_encodes_everything_and_offers_retry_only_for_retryable_failures()
    {
        var summary = new CorpusSummary
        {
            Total = 12_345, Segments = 99_000,
            ByStage = new() { [VideoStage.Embedded] = 12_000, [VideoStage.Failed] = 3, [VideoStage.Registered] = 342 },
            ByEncoder = new() { ["builtin"] = 12_000 },
            ByLabel = new() { [Hostile] = 7, ["cls=a"] = 5 },
            FailuresByKind = new() { ["ToolFailed"] = 2, ["NotMedia"] = 1 },
        };
        VideoIndexEntry Failed(string id, string kind, bool? permanent) => new()
        {
            Id = id, Stage = VideoStage.Failed, FailureKind = kind, FailureMessage = Hostile, FailurePermanent = permanent, OriginalName = Hostile,
        };
        var rate = IngestionTracker.Estimate([(DateTimeOffset.UnixEpoch, 11_000), (DateTimeOffset.UnixEpoch.AddSeconds(100), 12_003)], 342);
        var html = ConsolePages.Corpus(summary, [Failed("vaa", "ToolFailed", false), Failed("vbb", "ToolFailed", null), Failed("vcc", "NotMedia", true)], rate);

        NoRawHostile(html);
        Assert.Contains("<tr data-key=\"videos\"><th>videos</th><td>12,345</td></tr>", html);
        Assert.Contains("<tr data-key=\"Embedded\"><td><a href=\"/console/videos?state=Embedded\">Embedded</a></td><td class=\"n\">12,000</td></tr>", html);
        Assert.Contains("<tr data-key=\"Probed\"><td><a href=\"/console/videos?state=Probed\">Probed</a></td><td class=\"n\">0</td></tr>", html); // every state, zeros too
        Assert.Contains("href=\"/console/videos?label=%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%26%22\"", html);
        Assert.Contains("10.03 videos/s", html);
        Assert.Contains("id=\"retry-vaa\"", html);
        Assert.Contains("id=\"retry-vbb\"", html); // unknown (an entry from before the index carried it): offered
        Assert.DoesNotContain("id=\"retry-vcc\"", html);
        Assert.Contains("<meta http-equiv=\"refresh\" content=\"10\">", html); // unfinished videos: the page follows them
    }

    [Fact]
    public void Video_list_keeps_the_filters_in_the_form_and_pages_with_the_index_cursor()
    {
        var query = new VideoQuery { Stage = VideoStage.Embedded, Label = "cls=a", IdPrefix = "v0", Limit = 2, Cursor = "3:v01" };
        var page = new VideoPage
        {
            Items = [new VideoIndexEntry { Id = "v02", Stage = VideoStage.Embedded, Encoder = "builtin", Labels = ["cls=a", Hostile], SegmentCount = 4, Warning = "truncated: 3.0 of 6.0 s decodable" }],
            Matching = 17, Next = "5:v02",
        };
        var html = ConsolePages.Videos(query, page);
        NoRawHostile(html);
        Assert.Contains("<option selected>Embedded</option>", html);
        Assert.Contains("id=\"f-prefix\" value=\"v0\"", html);
        Assert.Contains("17 matching videos", html);
        Assert.Contains("href=\"/console/videos?state=Embedded&amp;label=cls%3Da&amp;prefix=v0&amp;limit=2&amp;cursor=5%3Av02\" id=\"next-page\"", html);
        Assert.Contains("id=\"first-page\"", html);
    }

    [Fact]
    public void Video_list_query_from_a_form_treats_empty_fields_as_any_and_refuses_what_the_json_api_refuses()
    {
        static (VideoQuery? Query, string? Error) Parse(string query, bool blank) =>
            StatusApi.ParseVideoQuery(new QueryCollection(Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(query)), blank);
        var (q, error) = Parse("?state=&encoder=&label=cls%3Da&prefix=&limit=25", blank: true);
        Assert.Null(error);
        Assert.Equal(new VideoQuery { Label = "cls=a", Limit = 25 }, q);
        Assert.NotNull(Parse("?state=&label=x", blank: false).Error); // the JSON API refuses an empty filter
        Assert.Contains("unknown state 'Bogus'", Parse("?state=Bogus", true).Error);
        Assert.Contains("limit '0'", Parse("?limit=0", true).Error);
        Assert.Contains("prefix 'v<1>'", Parse("?prefix=v%3C1%3E", true).Error);
        Assert.Contains("malformed cursor", Parse("?cursor=nope", true).Error);
        Assert.Contains("unknown query parameter 'stat'", Parse("?stat=Failed", true).Error);
    }

    [Fact]
    public void Video_page_shows_status_blobs_history_truncation_and_retry_when_failed()
    {
        var status = new VideoStatus
        {
            Id = "v123", Exists = true, Stage = VideoStage.Failed, Encoder = "builtin", Labels = [Hostile], OriginalName = Hostile, Attempts = 4,
            Probe = new VideoFileInfo { DurationSeconds = 61.25, FrameRate = 25, Width = 320, Height = 240, Codec = "h264" },
            SegmentCount = 12, Warning = "truncated: 37.3 of 60.0 s decodable", SourceBlob = "videos/v123/source.mp4",
            Failure = new VideoFailure { Kind = "ToolFailed", Message = Hostile, Permanent = false, At = DateTimeOffset.UnixEpoch },
        };
        var html = ConsolePages.Video(status);
        NoRawHostile(html);
        Assert.Contains("<tr data-key=\"duration\"><th>duration</th><td>61.3 s</td></tr>", html);
        Assert.Contains("<tr data-key=\"truncated\"><th>truncated</th><td>yes</td></tr>", html);
        Assert.Contains("videos/v123/source.mp4", html);
        Assert.Contains("action=\"/console/videos/v123/retry\"", html);
        Assert.Contains("1970-01-01 00:00:00Z", html);
    }

    [Fact]
    public void Run_page_draws_curves_from_the_metrics_and_tables_every_probe_with_mean_and_sd()
    {
        var progress = new TrainingProgress
        {
            Run = "r1", State = TrainingState.Training, Step = 40, TotalSteps = 100, Loss = 0.5, LearningRate = 1e-4, TokensPerSecond = 1234,
            Schedule = new TrainingSchedule { PeakLr = 1.5e-4, WarmupSteps = 10, TotalSteps = 100, MinLr = 1e-6, BatchSize = 16 },
            Config = new TrainingRunConfig { Preset = "tiny", Encoder = Hostile },
            Probes =
            [
                new ProbeScore { Step = 40, Column = "cls", Features = ProbeScore.LvMae, Probe = "linear", Top1 = 0.643, Top1Sd = 0.021, Test = 100, Seeds = 3 },
                new ProbeScore { Step = 40, Column = "cls", Features = ProbeScore.Majority, Probe = "baseline", Top1 = 0.5, Test = 100 },
                new ProbeScore { Step = 40, Column = "cls", Features = ProbeScore.Raw, Probe = "linear", Top1 = 0.55, Top1Sd = 0.01, Test = 100, Seeds = 3 },
            ],
        };
        var metrics = new RunMetricsView([new StepPoint(10, 0, 1.0, 1e-4, 900), new StepPoint(20, 0, 0.8, 1.2e-4, 1000), new StepPoint(30, 1, double.NaN, 1.5e-4, 1100)], []);
        var html = ConsolePages.Run(new RunSummary { Name = "r1", State = "Training" }, progress, metrics);
        NoRawHostile(html);
        Assert.Contains("id=\"loss-chart\" data-points=\"2\"", html); // the NaN loss is left out
        Assert.Contains("id=\"throughput-chart\" data-points=\"3\"", html);
        Assert.Contains("64.3% ± 2.1", html);
        Assert.Contains("50.0%", html);
        Assert.Contains("beats every baseline", html);
        Assert.Contains("<tr data-key=\"warmupSteps\"><th>warmupSteps</th><td>default</td></tr>", html); // config: unset = the defaults
        Assert.Contains("<tr data-key=\"warm-up steps\"><th>warm-up steps</th><td>10</td></tr>", html);
        Assert.Contains("action=\"/console/runs/r1/stop\"", html);
        Assert.Contains("action=\"/console/runs/r1/delete\"", html);
    }

    [Fact]
    public void Error_pages_are_readable_and_encode_the_message()
    {
        var html = ConsolePages.Error(404, $"no video '{Hostile}'");
        NoRawHostile(html);
        Assert.Contains("404 Not found", html);
        Assert.Contains("API key required", ConsolePages.Unauthorized("/console"));
    }

    [Fact]
    public void Ingestion_rate_needs_two_samples_apart_and_gives_an_eta_from_the_unfinished_count()
    {
        var t0 = DateTimeOffset.UnixEpoch;
        Assert.Null(IngestionTracker.Estimate([(t0, 10)], 5).PerSecond);
        Assert.Null(IngestionTracker.Estimate([(t0, 10), (t0.AddSeconds(1), 20)], 5).PerSecond);
        var r = IngestionTracker.Estimate([(t0, 10), (t0.AddSeconds(10), 30)], 100);
        Assert.Equal(2.0, r.PerSecond);
        Assert.Equal(TimeSpan.FromSeconds(50), r.Eta);
        Assert.Null(IngestionTracker.Estimate([(t0, 10), (t0.AddSeconds(10), 10)], 100).Eta);
    }
}
