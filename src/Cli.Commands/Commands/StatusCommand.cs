using System.CommandLine;
using LvMae.Contracts;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>`lvmae status [&lt;id&gt;] [--state S] [--label L] [--encoder E] [--json]`: one video, a filtered list, or the corpus summary.</summary>
public sealed class StatusCommand : ICliCommand
{
    public Command Build()
    {
        var id = new Argument<string?>("id") { Description = "A video id (omit for the corpus)", Arity = ArgumentArity.ZeroOrOne };
        var state = new Option<string?>("--state") { Description = $"List videos in this state ({string.Join(", ", Enum.GetNames<VideoStage>())})" };
        var label = new Option<string?>("--label") { Description = "List videos with this label" };
        var encoder = new Option<string?>("--encoder") { Description = "List videos registered or embedded with this encoder" };
        var limit = new Option<int>("--limit") { Description = "Most videos listed", DefaultValueFactory = _ => 50 };
        var cursor = new Option<string?>("--cursor") { Description = "Continue a list where the previous page ended (its 'next' cursor)" };
        var json = new Option<bool>("--json") { Description = "JSON output" };
        var command = new Command("status", "Status of one video, a filtered list, or the corpus summary with failures") { id, state, label, encoder, limit, cursor, json };
        command.SetAction((parse, cancellationToken) => CommandLine.WithClientAsync(async (settings, client) =>
        {
            var asJson = parse.GetValue(json);
            if (parse.GetValue(id) is { } videoId)
            {
                if (!BlobLayout.IsValidId(videoId)) { CommandLine.Error($"malformed video id '{videoId}'"); return ExitCodes.Usage; }
                var status = await client.Grains.GetGrain<IVideoGrain>(videoId).GetStatus();
                if (!status.Exists) { CommandLine.Error($"no video '{videoId}'"); return ExitCodes.Failed; }
                if (asJson) CommandLine.WriteJson(status); else Render(status);
                return ExitCodes.Ok;
            }
            VideoStage? stage = null;
            if (parse.GetValue(state) is { } s)
            {
                if (!Enum.TryParse<VideoStage>(s, true, out var parsed) || int.TryParse(s, out _)) { CommandLine.Error($"unknown state '{s}'"); return ExitCodes.Usage; }
                stage = parsed;
            }
            var (l, e) = (parse.GetValue(label), parse.GetValue(encoder));
            if (stage is not null || l is not null || e is not null)
            {
                var page = await client.Grains.QueryAsync(new VideoQuery { Stage = stage, Label = l, Encoder = e, Limit = parse.GetValue(limit), Cursor = parse.GetValue(cursor) });
                if (asJson) CommandLine.WriteJson(page); else Render(page);
                return ExitCodes.Ok;
            }
            var summary = await client.Grains.SummaryAsync();
            var failures = await client.Grains.QueryAsync(new VideoQuery { Stage = VideoStage.Failed, Limit = parse.GetValue(limit) });
            if (asJson) CommandLine.WriteJson(new { summary, failures = failures.Items });
            else Render(summary, failures);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void Render(VideoStatus s)
    {
        var grid = new ResultTable("field", "value");
        void Row(string k, object? v) => grid.Row(k, v?.ToString() ?? "-");
        Row("id", s.Id);
        Row("file", s.OriginalName);
        if (s.InPlace is { } source) Row("source", $"{source} (registered in place, ETag {source.ETag}, {source.Length:N0} bytes)");
        // The stage storage holds; "saving" while a newer one is not confirmed by storage yet.
        Row("state", s.Stage + (s.Saving ? " (saving)" : "") + (s.Working ? (s.Queued ? " (queued for a job slot)" : $" (working, {s.Progress:P0})") : ""));
        Row("encoder", s.Encoder + (s.EncoderVersion is null ? "" : $" ({s.EncoderVersion})"));
        Row("labels", string.Join(", ", s.Labels));
        if (s.Probe is { } p) Row("video", $"{p.DurationSeconds:F1} s, {p.Width}x{p.Height}, {p.FrameRate:F1} fps, {p.Codec}");
        Row("segments", s.SegmentCount);
        Row("embeddings", s.EmbeddingsBlob is null ? null : $"{s.EmbeddingsBlob} [{s.SegmentCount}, {s.Dimension}]");
        Row("attempts", s.Attempts);
        if (s.Failure is { } f) Row("failure", $"{f.Kind}{(f.Permanent ? " (permanent)" : "")}: {f.Message}");
        Row("registered", s.RegisteredAt);
        Row("updated", s.UpdatedAt);
        grid.Write();
    }

    private static void Render(VideoPage page)
    {
        var table = new ResultTable("video id", "state", "encoder", "labels", "segments", "failure");
        foreach (var e in page.Items)
            table.Row(e.Id, e.Stage.ToString(), e.Encoder ?? "-", string.Join(",", e.Labels), e.SegmentCount.ToString(),
                e.FailureKind is null ? "" : $"{e.FailureKind}: {e.FailureMessage}");
        table.Write();
        AnsiConsole.MarkupLine($"{page.Items.Count} shown of {page.Matching} matching" + (page.Next is null ? "" : $"; next page: --cursor {Markup.Escape(page.Next)}"));
    }

    private static void Render(CorpusSummary summary, VideoPage failures)
    {
        AnsiConsole.MarkupLine($"[bold]{summary.Total}[/] video(s), {summary.Segments} embedded segment(s)");
        var stages = new ResultTable("state", "videos");
        foreach (var stage in Enum.GetValues<VideoStage>()) stages.Row(stage.ToString(), summary.ByStage.GetValueOrDefault(stage).ToString());
        stages.Write();
        if (summary.ByEncoder.Count > 0)
        {
            var enc = new ResultTable("encoder", "embedded videos");
            foreach (var (k, v) in summary.ByEncoder.OrderBy(kv => kv.Key)) enc.Row(k, v.ToString());
            enc.Write();
        }
        if (summary.ByLabel.Count > 0)
        {
            var labels = new ResultTable("label", "videos");
            foreach (var (k, v) in summary.ByLabel.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).Take(30)) labels.Row(k, v.ToString());
            labels.Write();
        }
        if (failures.Items.Count > 0)
        {
            var table = new ResultTable("failed video", "file", "kind", "reason");
            foreach (var e in failures.Items) table.Row(e.Id, e.OriginalName, e.FailureKind, e.FailureMessage);
            table.Write();
        }
    }
}
