using System.CommandLine;
using LvMae.Contracts;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>
/// `lvmae index check|rebuild|health` and `lvmae verify`: the corpus index (and the data blobs) audited against the video
/// grains' persisted state by the cluster's audit grain; this process starts it and follows its progress.
/// </summary>
public sealed class IndexCommand : ICliCommand
{
    public Command Build()
    {
        var json = new Option<bool>("--json") { Description = "JSON output" };
        var check = new Command("check", "Compare every index entry with its video's persisted state (exit 1 when they differ)") { json };
        check.SetAction((parse, ct) => AuditRun.RunAsync(new AuditRequest(), parse.GetValue(json), ct));
        var rebuild = new Command("rebuild", "Rewrite every index entry that differs from its video's persisted state; drop entries without a video") { json };
        rebuild.SetAction((parse, ct) => AuditRun.RunAsync(new AuditRequest { Repair = true }, parse.GetValue(json), ct));
        var health = new Command("health", "Per-shard entries, queued and in-flight videos, log size and bytes written") { json };
        health.SetAction((parse, ct) => CommandLine.WithClientAsync(async (_, client) =>
        {
            var shards = await client.Grains.GetGrain<ICorpusGrain>(0).Health();
            if (parse.GetValue(json)) { CommandLine.WriteJson(shards); return ExitCodes.Ok; }
            var table = new ResultTable("shard", "entries", "queued", "in flight", "parked", "generation", "log bytes", "bytes written");
            foreach (var s in shards)
                table.Row(s.Shard.ToString(), s.Entries.ToString(), s.Pending.ToString(), s.InFlight.ToString(), s.Parked.ToString(),
                    s.Generation.ToString(), s.LogBytes.ToString("N0"), s.BytesWritten.ToString("N0"));
            table.Write();
            return ExitCodes.Ok;
        }));
        return new Command("index", "The corpus index: check it against the video states, rebuild it, see its shards") { check, rebuild, health };
    }
}

public sealed class VerifyCommand : ICliCommand
{
    public Command Build()
    {
        var json = new Option<bool>("--json") { Description = "JSON output" };
        var repair = new Option<bool>("--repair") { Description = "Also rewrite index entries that differ from their video's state" };
        var command = new Command("verify",
            "Check the corpus invariant: every video's index entry and data blobs agree with its persisted state (rows, dimension, encoder, content hash), " +
            "and the live index the API serves agrees with each shard's persisted log; lists unfinished videos and orphaned blobs. " +
            "Exit 0 only when everything agrees and every video is Embedded or Failed") { repair, json };
        command.SetAction((parse, ct) => AuditRun.RunAsync(new AuditRequest { Blobs = true, IndexLog = true, Repair = parse.GetValue(repair) }, parse.GetValue(json), ct, requireFinished: true));
        return command;
    }
}

internal static class AuditRun
{
    public static Task<int> RunAsync(AuditRequest request, bool json, CancellationToken ct, bool requireFinished = false) => CommandLine.WithClientAsync(async (_, client) =>
    {
        var audit = client.Grains.GetGrain<ICorpusAuditGrain>(0);
        var report = await audit.Start(request);
        var started = report.StartedAt;
        while (report.Running)
        {
            if (!json) AnsiConsole.MarkupLine($"[grey]auditing: {report.States:N0} video states read, {report.Missing + report.Stale + report.Phantom} index problems so far[/]");
            await Task.Delay(TimeSpan.FromSeconds(report.States < 1000 ? 0.5 : 2), ct);
            report = await audit.Report();
        }
        if (report.StartedAt != started) { CommandLine.Error("another audit replaced this one; run the command again"); return ExitCodes.Failed; }
        if (json) CommandLine.WriteJson(report); else Render(report);
        if (report.Error is not null) return ExitCodes.Failed;
        var clean = (request.Repair ? report.BlobProblems + report.LogDiffers + report.Ahead : report.Inconsistencies) == 0 && (!request.Blobs || report.Orphans == 0)
                    && (!requireFinished || report.Unfinished == 0);
        return clean ? ExitCodes.Ok : ExitCodes.Failed;
    });

    private static void Render(AuditReport r)
    {
        var table = new ResultTable("check", "count");
        table.Row("video states read", r.States.ToString("N0"));
        table.Row("index entries", r.IndexEntries.ToString("N0"));
        table.Row("unfinished videos (not Embedded or Failed)", r.Unfinished.ToString("N0"));
        table.Row("failed videos (with a reason)", r.Failed.ToString("N0"));
        table.Row("missing from the index", r.Missing.ToString("N0"));
        table.Row("index entry differs from state", r.Stale.ToString("N0"));
        table.Row("index entry without a video", r.Phantom.ToString("N0"));
        if (r.Request.Blobs)
        {
            table.Row("data blobs disagree with state", r.BlobProblems.ToString("N0"));
            table.Row("orphaned video folders", r.Orphans.ToString("N0"));
        }
        if (r.Request.IndexLog)
        {
            table.Row("index shard logs read from storage", r.ShardLogsRead.ToString("N0"));
            table.Row("live index (what the API serves) differs from the persisted log", r.LogDiffers.ToString("N0"));
            table.Row("index entry newer than the persisted state (a lost state write)", r.Ahead.ToString("N0"));
        }
        if (r.Request.Repair) table.Row("index entries repaired", r.Repaired.ToString("N0"));
        table.Write();
        foreach (var line in r.Problems) AnsiConsole.WriteLine("  " + line);
        if (r.Error is not null) CommandLine.Error($"the audit failed: {r.Error}");
        var took = (r.FinishedAt ?? DateTimeOffset.UtcNow) - r.StartedAt;
        AnsiConsole.MarkupLine($"audit took {took.TotalSeconds:F1} s");
    }
}
