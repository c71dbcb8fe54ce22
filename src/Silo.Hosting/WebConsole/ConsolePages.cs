using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LvMae.Contracts;
using LvMae.Grains.Training;
using LvMae.Runs;
using static LvMae.Silo.WebConsole.Html;

namespace LvMae.Silo.WebConsole;

/// <summary>
/// The console's pages as pure functions of what the JSON API returns (<see cref="CorpusSummary"/>, <see cref="VideoPage"/>,
/// <see cref="VideoStatus"/>, <see cref="RunSummary"/>, <see cref="TrainingProgress"/>, <see cref="RunMetricsView"/>): no I/O,
/// so each renders in microseconds and is unit-testable without a silo. Every value is HTML-encoded (<see cref="Html"/>).
/// Elements tests read carry ids or data-key attributes.
/// </summary>
public static class ConsolePages
{
    /// <summary>Failed videos the corpus page lists under their kind (the first of the index's Failed set).</summary>
    public const int FailuresShown = 200;

    private static readonly string[] Unfinished = [nameof(VideoStage.Registered), nameof(VideoStage.Probed), nameof(VideoStage.Segmented)];

    public static string VideoHref(string id) => "/console/videos/" + U(id);
    public static string RunHref(string name) => "/console/runs/" + U(name);

    /// <summary>/console/videos with the given filters (null or empty left out).</summary>
    public static string ListHref(VideoStage? state = null, string? encoder = null, string? label = null, string? prefix = null, string? cursor = null, int? limit = null)
    {
        var parts = new List<string>();
        void Add(string key, string? value) { if (!string.IsNullOrEmpty(value)) parts.Add(key + "=" + U(value)); }
        Add("state", state?.ToString());
        Add("encoder", encoder);
        Add("label", label);
        Add("prefix", prefix);
        Add("limit", limit is { } l and not 100 ? l.ToString(CultureInfo.InvariantCulture) : null);
        Add("cursor", cursor);
        return "/console/videos" + (parts.Count == 0 ? "" : "?" + string.Join("&", parts));
    }

    private static void Notice(Html h, string? notice)
    {
        if (!string.IsNullOrEmpty(notice)) h.El("p", notice, "class=\"notice\" id=\"notice\"");
    }

    /// <summary>A count table (key, count, link to the matching videos) with id <paramref name="id"/>.</summary>
    private static void Counts(Html h, string id, string heading, IEnumerable<(string Key, long Count, string? Href)> rows)
    {
        h.Raw($"<table id=\"{E(id)}\"><tr><th>{E(heading)}</th><th>videos</th></tr>");
        foreach (var (key, count, href) in rows)
        {
            h.Raw($"<tr data-key=\"{E(key)}\"><td>");
            if (href is null) h.Text(key); else h.Link(href, key);
            h.Raw($"</td><td class=\"n\">{N(count)}</td></tr>");
        }
        h.Raw("</table>");
    }

    /// <summary>GET /console: the corpus (GET /corpus/summary's figures), ingestion rate and ETA while videos are unfinished,
    /// failures by kind with the first <see cref="FailuresShown"/> failed videos and a retry button for the retryable ones.</summary>
    public static string Corpus(CorpusSummary summary, IReadOnlyList<VideoIndexEntry> failed, IngestionRate rate, string? notice = null)
    {
        var h = new Html();
        Notice(h, notice);
        h.Facts("corpus-totals", [
            ("videos", N(summary.Total)),
            ("segments (embedded videos)", N(summary.Segments)),
            ("unfinished", N(rate.Unfinished)),
            ("finishing rate", rate.PerSecond is { } r ? $"{r.ToString("0.##", CultureInfo.InvariantCulture)} videos/s over the last {D(rate.Window)}" : rate.Unfinished > 0 ? "measuring (refreshes every 10 s)" : "-"),
            ("ETA", rate.Unfinished == 0 ? "nothing to do" : D(rate.Eta)),
        ]);
        h.Raw("<div class=\"charts\">");
        Counts(h, "by-stage", "state", Enum.GetValues<VideoStage>().Select(s => (s.ToString(), (long)summary.ByStage.GetValueOrDefault(s), (string?)ListHref(state: s))));
        Counts(h, "by-encoder", "encoder (embedded)", summary.ByEncoder.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, (long)kv.Value, (string?)ListHref(state: VideoStage.Embedded, encoder: kv.Key))));
        Counts(h, "failures-by-kind", "failure kind", summary.FailuresByKind.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, (long)kv.Value, (string?)("#kind-" + U(kv.Key)))));
        h.Raw("</div>");

        h.El("h2", $"Labels ({N(summary.ByLabel.Count)}{(summary.OtherLabels > 0 ? $" most frequent; {N(summary.OtherLabels)} more not shown" : "")})");
        Counts(h, "by-label", "label", summary.ByLabel.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, (long)kv.Value, (string?)ListHref(label: kv.Key))));

        var failedTotal = summary.ByStage.GetValueOrDefault(VideoStage.Failed);
        h.El("h2", $"Failures ({N(failedTotal)})");
        if (failedTotal > failed.Count)
        {
            h.Raw("<p class=\"muted\">").Text($"The first {N(failed.Count)} failed videos by id; ").Link(ListHref(state: VideoStage.Failed), "all failed videos").Raw("</p>");
        }
        foreach (var group in failed.GroupBy(f => f.FailureKind ?? "Unknown").OrderByDescending(g => summary.FailuresByKind.GetValueOrDefault(g.Key)).ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            h.Raw($"<h3 id=\"kind-{E(U(group.Key))}\">").Text($"{group.Key}: {N(summary.FailuresByKind.GetValueOrDefault(group.Key))}").Raw("</h3>");
            h.Raw($"<table class=\"failures\" data-kind=\"{E(group.Key)}\"><tr><th>video</th><th>name</th><th>error</th><th>retryable</th><th></th></tr>");
            foreach (var f in group)
            {
                h.Raw($"<tr data-video=\"{E(f.Id)}\"><td>").Link(VideoHref(f.Id), f.Id).Raw("</td>").El("td", f.OriginalName ?? "-").El("td", f.FailureMessage ?? "-");
                h.El("td", f.FailurePermanent switch { true => "no (the input itself)", false => "yes", null => "unknown" }).Raw("<td>");
                if (f.FailurePermanent != true) h.Button(VideoHref(f.Id) + "/retry", "Retry", "retry-" + f.Id, ("return", "corpus"));
                h.Raw("</td></tr>");
            }
            h.Raw("</table>");
        }
        if (failedTotal == 0) h.El("p", "No failed videos.", "class=\"muted\"");
        return Page("Corpus", "Corpus", h.ToString(), rate.Unfinished > 0 ? 10 : null);
    }

    /// <summary>GET /console/videos: the filter form and one page of GET /videos (same query, same cursor paging).</summary>
    public static string Videos(VideoQuery query, VideoPage page)
    {
        var h = new Html();
        h.Raw("<form method=\"get\" action=\"/console/videos\" class=\"filters\" id=\"filters\"><label>state <select name=\"state\" id=\"f-state\"><option value=\"\">any</option>");
        foreach (var s in Enum.GetValues<VideoStage>())
            h.Raw($"<option{(query.Stage == s ? " selected" : "")}>{s}</option>");
        h.Raw("</select></label>");
        foreach (var (name, value) in new[] { ("encoder", query.Encoder), ("label", query.Label), ("prefix", query.IdPrefix) })
            h.Raw($"<label>{name} <input name=\"{name}\" id=\"f-{name}\" value=\"{E(value)}\" size=\"14\"></label>");
        h.Raw($"<label>per page <input name=\"limit\" id=\"f-limit\" value=\"{query.Limit}\" size=\"5\"></label><button type=\"submit\" id=\"f-go\">Search</button></form>");

        h.Raw("<p id=\"matching\">").Text($"{N(page.Matching)} matching videos").Raw(query.Cursor is null ? "" : " (a later page)").Raw("</p>");
        h.Raw("<table id=\"videos\"><tr><th>video</th><th>name</th><th>state</th><th>encoder</th><th>labels</th><th>segments</th><th>updated</th><th>note</th></tr>");
        foreach (var v in page.Items)
        {
            h.Raw($"<tr data-video=\"{E(v.Id)}\"><td>").Link(VideoHref(v.Id), v.Id).Raw("</td>").El("td", v.OriginalName ?? "-").El("td", v.Stage.ToString(), $"class=\"stage-{v.Stage}\"");
            h.El("td", string.Join(", ", new[] { v.Encoder }.Concat(v.EmbeddedEncoders).Where(e => e is not null).Distinct())).El("td", string.Join(", ", v.Labels));
            h.El("td", N(v.SegmentCount), "class=\"n\"").El("td", T(v.UpdatedAt));
            h.El("td", v.Stage == VideoStage.Failed ? $"{v.FailureKind}: {v.FailureMessage}" : v.Warning ?? "", v.Stage == VideoStage.Failed ? "class=\"bad\"" : v.Warning is null ? "" : "class=\"warn\"");
            h.Raw("</tr>");
        }
        h.Raw("</table><p class=\"pager\">");
        if (query.Cursor is not null) h.Link(ListHref(query.Stage, query.Encoder, query.Label, query.IdPrefix, null, query.Limit), "First page", "id=\"first-page\"");
        if (page.Next is not null) h.Link(ListHref(query.Stage, query.Encoder, query.Label, query.IdPrefix, page.Next, query.Limit), "Next page", "id=\"next-page\"");
        h.Raw("</p>");
        return Page("Videos", "Videos", h.ToString());
    }

    /// <summary>GET /console/videos/{id}: everything GET /videos/{id} returns.</summary>
    public static string Video(VideoStatus v, string? notice = null)
    {
        var h = new Html();
        Notice(h, notice);
        var truncated = v.Warning is { } w && w.Contains("truncat", StringComparison.OrdinalIgnoreCase);
        h.Facts("video", [
            ("id", v.Id),
            ("name", v.OriginalName),
            ("state", v.Stage.ToString()),
            ("activity", v.Saving ? "saving" : v.Queued ? "queued for a job slot" : v.Working ? $"working ({(100 * v.Progress).ToString("0", CultureInfo.InvariantCulture)}%)" : "idle"),
            ("source kind", v.Kind.ToString()),
            ("encoder", v.Encoder),
            ("encoder version", v.EncoderVersion),
            ("embedded with", v.EmbeddedEncoders.Count == 0 ? "-" : string.Join(", ", v.EmbeddedEncoders)),
            ("labels", v.Labels.Count == 0 ? "-" : string.Join(", ", v.Labels)),
            ("duration", v.Probe is { } p ? $"{p.DurationSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s" : "-"),
            ("video stream", v.Probe is { } q ? $"{q.Width}x{q.Height}, {q.FrameRate.ToString("0.##", CultureInfo.InvariantCulture)} fps, {q.Codec}" : "-"),
            ("segments", N(v.SegmentCount)),
            ("embedding dimension", v.Dimension == 0 ? "-" : N(v.Dimension)),
            ("truncated", truncated ? "yes" : "no"),
            ("warning", v.Warning),
            ("attempts", N(v.Attempts)),
        ]);
        h.El("h2", "Data blobs");
        h.Facts("blobs", [("source", v.InPlace is { } inPlace ? $"{inPlace} (registered in place, ETag {inPlace.ETag})" : v.SourceBlob), ("segments", v.SegmentsBlob), ("embeddings", v.EmbeddingsBlob)]);
        h.El("h2", "History");
        h.El("p", "The video keeps the time of each milestone (not every transition); the state above is the latest.", "class=\"muted\"");
        h.Facts("history", [("registered", T(v.RegisteredAt)), ("last change", T(v.UpdatedAt)), ("finished", T(v.CompletedAt)), ("failed", T(v.Failure?.At))]);
        if (v.Failure is { } f)
        {
            h.El("h2", "Failure");
            h.Facts("failure", [("kind", f.Kind), ("retryable", f.Permanent ? "no (the input itself)" : "yes"), ("message", f.Message), ("at", T(f.At))]);
            if (v.Stage == VideoStage.Failed) h.Button(VideoHref(v.Id) + "/retry", f.Permanent ? "Retry anyway" : "Retry", "retry", ("return", "video"));
        }
        return Page($"Video {v.Id}", "Videos", h.ToString(), v.IsTerminal ? null : 10);
    }

    /// <summary>GET /console/runs: GET /runs.</summary>
    public static string Runs(IReadOnlyList<RunSummary> runs, string? notice = null)
    {
        var h = new Html();
        Notice(h, notice);
        h.Raw("<table id=\"runs\"><tr><th>run</th><th>state</th><th>step</th><th>of</th><th>updated</th><th>latest checkpoint</th><th>message</th></tr>");
        foreach (var r in runs.OrderByDescending(r => r.UpdatedAt))
        {
            h.Raw($"<tr data-run=\"{E(r.Name)}\"><td>").Link(RunHref(r.Name), r.Name).Raw("</td>").El("td", r.State).El("td", N(r.Step), "class=\"n\"");
            h.El("td", r.Schedule is { } s ? N(s.TotalSteps) : "-", "class=\"n\"").El("td", T(r.UpdatedAt)).El("td", r.LatestCheckpoint ?? "-").El("td", r.Message ?? "");
            h.Raw("</tr>");
        }
        h.Raw("</table>");
        if (runs.Count == 0) h.El("p", "No training runs yet (start one with `lvmae train`).", "class=\"muted\"");
        return Page("Training runs", "Training runs", h.ToString());
    }

    private static readonly JsonSerializerOptions ConfigJson = new(JsonSerializerDefaults.Web);

    /// <summary>GET /console/runs/{name}: GET /runs/{name} (registry), /runs/{name}/progress and /runs/{name}/metrics on one page,
    /// with stop / resume / delete.</summary>
    public static string Run(RunSummary? run, TrainingProgress p, RunMetricsView? metrics, string? notice = null)
    {
        var h = new Html();
        Notice(h, notice);
        var name = run?.Name ?? p.Run;
        h.Raw("<p id=\"actions\">");
        h.Button(RunHref(name) + "/stop", "Stop", "stop");
        h.Button(RunHref(name) + "/resume", "Resume", "resume");
        h.Raw($"<form method=\"post\" class=\"action\" action=\"{E(RunHref(name))}/delete\"><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required id=\"delete-confirm\"> delete its checkpoints, metrics and state</label> <button type=\"submit\" id=\"delete\">Delete</button></form>");
        h.Raw("</p>");
        h.Facts("run", [
            ("state", p.State == TrainingState.None ? run?.State : p.State.ToString()),
            ("step", p.TotalSteps > 0 ? $"{N(p.Step)} of {N(p.TotalSteps)}" : N(p.Step)),
            ("epoch", N(p.Epoch)),
            ("loss", N(p.Loss, "F4")),
            ("learning rate", N(p.LearningRate, "G3")),
            ("tokens/s", N(p.TokensPerSecond, "F0")),
            ("ETA", D(p.Eta)),
            ("device", p.Device is null ? "-" : $"{p.Device} on {p.Silo}"),
            ("latest checkpoint", p.LatestCheckpoint is null ? "-" : $"step {N(p.LatestCheckpointStep)}: {p.LatestCheckpoint}"),
            ("resumes", N(p.Resumes)),
            ("skipped videos", N(p.SkippedVideos)),
            ("probing", p.ProbeActivity?.ToString() ?? (p.Probing ? "yes" : "no")),
            ("corpus", p.Data.Count == 0 ? "-" : SplitCount.Describe(p.Data)),
            ("message", p.Message ?? run?.Message),
            ("created", T(run?.CreatedAt)),
            ("updated", T(run?.UpdatedAt)),
        ]);
        if (p.RecentSkips.Count > 0) h.El("p", "recently skipped: " + string.Join("; ", p.RecentSkips), "class=\"warn\"");
        if (p.Codebook is not null) h.El("p", p.Codebook);

        var schedule = p.Schedule ?? run?.Schedule;
        h.El("h2", "Effective learning-rate schedule");
        h.Facts("schedule", schedule is null ? [("schedule", "not resolved yet")] : [
            ("peak lr", N(schedule.PeakLr, "G3")), ("warm-up steps", N(schedule.WarmupSteps)), ("total steps", N(schedule.TotalSteps)),
            ("min lr", N(schedule.MinLr, "G3")), ("batch size", N(schedule.BatchSize)), ("shape", schedule.ToString())]);

        var steps = metrics?.Steps ?? [];
        h.El("h2", "Curves");
        h.Raw("<div class=\"charts\">");
        h.Raw(SvgChart.Line("loss-chart", "loss (mean per row)", "step", steps.Select(s => ((double)s.Step, s.Loss))));
        h.Raw(SvgChart.Line("throughput-chart", "tokens/s", "step", steps.Select(s => ((double)s.Step, s.TokensPerSecond)), colour: "#059669"));
        h.Raw(SvgChart.Line("lr-chart", "learning rate", "step", steps.Select(s => ((double)s.Step, s.Lr)), colour: "#9333ea"));
        h.Raw("</div>");

        h.El("h2", "Probes (held-out test split; mean ± sd over the probe seeds)");
        ProbeTable(h, p.Probes);

        var config = p.Config ?? run?.Config;
        h.El("h2", "Config");
        h.Facts("config", config is null ? [("config", "-")]
            : JsonSerializer.SerializeToNode(config, ConfigJson)!.AsObject().Select(kv => (kv.Key, (string?)(kv.Value is JsonValue v ? v.ToString() : kv.Value?.ToJsonString() ?? "default"))));
        var live = p.State == TrainingState.Training || p.Probing || p.Exporting;
        return Page($"Run {name}", "Training runs", h.ToString(), live ? 10 : null);
    }

    private static int FeatureOrder(string features) => features switch { ProbeScore.Majority => 0, ProbeScore.Raw => 1, ProbeScore.Untrained => 2, _ => 3 };

    /// <summary>Every probe score (LV-MAE next to every baseline: majority, raw, raw attentive+pos, step 0) and the verdict lines.</summary>
    private static void ProbeTable(Html h, IReadOnlyList<ProbeScore> scores)
    {
        if (scores.Count == 0) { h.El("p", "No probe scores yet.", "class=\"muted\""); return; }
        var list = scores.OrderBy(s => s.Column, StringComparer.Ordinal).ThenBy(s => FeatureOrder(s.Features)).ThenBy(s => s.Probe, StringComparer.Ordinal).ThenBy(s => s.Step).ToList();
        h.Raw("<table id=\"probes\"><tr><th>column</th><th>features</th><th>probe</th><th>test top-1 (mean ± sd)</th><th>val top-1</th><th>test mse (mean ± sd)</th><th>train/val/test</th><th>classes</th><th>seeds</th><th>step</th></tr>");
        foreach (var s in list)
        {
            h.Raw($"<tr data-key=\"{E($"{s.Column}/{s.Features}/{s.Probe}@{s.Step}")}\">").El("td", s.Column).El("td", s.Features).El("td", s.Probe);
            h.El("td", s.Top1 is { } t ? ProbeVerdict.Mean(t, s.Top1Sd) : "-", "class=\"n top1\"").El("td", s.ValTop1 is { } v ? ProbeVerdict.Mean(v, null) : "-", "class=\"n\"");
            h.El("td", s.Mse is { } m ? $"{N(m)}{(s.MseSd is { } sd ? $" ± {N(sd, "G3")}" : "")}" : "-", "class=\"n\"");
            h.El("td", $"{s.Train}/{s.Val}/{s.Test}", "class=\"n\"").El("td", N(s.Classes), "class=\"n\"").El("td", N(s.Seeds), "class=\"n\"").El("td", N(s.Step), "class=\"n\"").Raw("</tr>");
        }
        h.Raw("</table>");
        var latest = list.GroupBy(s => s.Column).SelectMany(g => g.Where(s => s.Step == g.Max(x => x.Step))).ToList();
        var comparisons = ProbeVerdict.Compare(latest);
        h.Raw("<ul id=\"verdicts\">");
        foreach (var (column, probe) in comparisons.Select(c => (c.Column, c.Probe)).Distinct())
            h.El("li", ProbeVerdict.Line(comparisons, column, probe));
        h.Raw("</ul>");
    }

    /// <summary>A readable error page (never a stack trace): what went wrong and where to go from here.</summary>
    public static string Error(int status, string message)
    {
        var h = new Html();
        h.Raw("<div class=\"error\" id=\"error\"><p><strong>").Text($"{status} {Reason(status)}").Raw("</strong></p>").El("p", message, "id=\"error-message\"").Raw("</div>");
        h.Raw("<p>").Link("/console", "Back to the corpus").Raw(" · ").Link("/console/videos", "Videos").Raw(" · ").Link("/console/runs", "Training runs").Raw("</p>");
        return Page(Reason(status), "", h.ToString());
    }

    /// <summary>The 401 page: the key is missing or wrong; a form that sends it once as ?apikey= (which sets the HttpOnly cookie).</summary>
    public static string Unauthorized(string returnPath)
    {
        var h = new Html();
        h.Raw("<div class=\"error\" id=\"error\"><p><strong>401 API key required</strong></p>")
            .El("p", "This silo requires its API key (LvMae:Api:ApiKey). The key given was missing or wrong.", "id=\"error-message\"").Raw("</div>");
        h.Raw($"<form method=\"get\" action=\"{E(returnPath)}\"><label>API key <input type=\"password\" name=\"apikey\" id=\"apikey\" autocomplete=\"off\"></label> <button type=\"submit\" id=\"apikey-go\">Open</button></form>");
        h.El("p", "The browser keeps it as an HttpOnly, same-site cookie for this silo.", "class=\"muted\"");
        return Page("API key required", "", h.ToString());
    }

    private static string Reason(int status) => status switch
    {
        400 => "Bad request", 401 => "API key required", 404 => "Not found", 405 => "Method not allowed", 503 => "Unavailable", _ => "Internal error",
    };
}
