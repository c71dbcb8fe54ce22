using Polly;
using System.CommandLine;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>`lvmae ingest &lt;file|dir|glob&gt;...`: upload + register (content-hash ids, idempotent), then follow processing.</summary>
public sealed class IngestCommand : ICliCommand
{
    public Command Build()
    {
        var targets = new Argument<string[]>("inputs") { Description = "Video files, directories (recursive) or globs (\"clips/**/*.mp4\"); none when registering in place", Arity = ArgumentArity.ZeroOrMore };
        var labels = new Option<string?>("--labels") { Description = "Labels: a CSV with a header (videoId|file,column,... gives column=value labels), a headerless CSV (file,label,...), or a comma-separated list for every input" };
        var encoder = new Option<string>("--encoder") { Description = "builtin | resnet18 | model:<file.onnx> (a file in the silos' LvMae:Processing:ModelDirectory)", DefaultValueFactory = _ => "resnet18" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once registered; do not follow processing" };
        var parallel = new Option<int>("--parallel") { Description = "Files hashed/uploaded (or blobs registered in place) at once", DefaultValueFactory = _ => 4 };
        var container = new Option<string?>("--container") { Description = "Register in place: the container (of the cluster's storage account, or of --source-connection-string's) whose video blobs stay where they are; the silos read them there" };
        var prefix = new Option<string?>("--prefix") { Description = "Register in place: only blobs whose names start with this (e.g. \"corpus/2026/\")" };
        var sourceUrl = new Option<string?>("--source-url") { Description = "Register in place from another account: the container's URL with a SAS token (read + list), e.g. https://acct.blob.core.windows.net/videos?sv=...&sig=...; the silos keep it to read the videos" };
        var sourceConnection = new Option<string?>("--source-connection-string") { Description = "Register in place from another account: its connection string (with --container); the silos keep it to read the videos" };
        var manifest = new Option<string?>("--manifest") { Description = "Register in place only the blobs this CSV names (first column: blob name; other columns: labels, as in a --labels CSV)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Register in place: count what a run would register (new, already registered, changed, refused) and register nothing" };
        var reembed = new Option<bool>("--reembed-changed") { Description = "Register in place: embed again a video whose blob changed since it was registered (without it, such a video is refused and keeps its embeddings)" };
        var command = new Command("ingest", "Upload videos and register them for probing, segmenting and encoding, or register videos already in blob storage where they are")
            { targets, labels, encoder, noWait, parallel, container, prefix, sourceUrl, sourceConnection, manifest, dryRun, reembed };
        command.SetAction(async (parse, ct) =>
        {
            var encoderSpec = parse.GetValue(encoder)!;
            // An unusable encoder spec is a usage error, once, not an error per file. (A model file is looked up by the silos,
            // in their LvMae:Processing:ModelDirectory: the first registration says if it is not there.)
            void CheckEncoder() => BlobLayout.EncoderFileName(encoderSpec);
            var inputs = parse.GetValue(targets) ?? [];
            if (InPlaceRequest.Asked(parse.GetValue(container), parse.GetValue(sourceUrl), parse.GetValue(sourceConnection)))
            {
                var request = InPlaceRequest.Check(inputs, parse.GetValue(container), parse.GetValue(sourceUrl), parse.GetValue(sourceConnection),
                    parse.GetValue(prefix), parse.GetValue(manifest), parse.GetValue(labels), parse.GetValue(parallel), parse.GetValue(dryRun), parse.GetValue(reembed), CheckEncoder);
                if (request is null) return ExitCodes.Usage;
                return await CommandLine.WithClientAsync((settings, client) => InPlaceIngestion.RunAsync(request, encoderSpec, parse.GetValue(noWait), settings, client, ct));
            }
            if (parse.GetValue(prefix) is not null || parse.GetValue(manifest) is not null || parse.GetValue(dryRun) || parse.GetValue(reembed))
            {
                CommandLine.Error("--prefix, --manifest, --dry-run and --reembed-changed register in place: give --container or --source-url with them");
                return ExitCodes.Usage;
            }
            if (inputs.Length == 0)
            {
                CommandLine.Error("nothing to ingest: give video files, directories or globs, or --container / --source-url to register blobs in place");
                return ExitCodes.Usage;
            }
            var batch = IngestionInputs.Check(inputs, VideoIngestor.VideoExtensions, "video", parse.GetValue(labels), parse.GetValue(parallel), CheckEncoder);
            if (batch is null) return ExitCodes.Usage;
            return await CommandLine.WithClientAsync(async (settings, client) =>
            {
                var ingestor = new VideoIngestor(CommandLine.Blobs(settings), client.Grains);
                var results = await IngestionProgress.RegisterAsync(batch.Files, batch.Parallel,
                    (path, c) => ingestor.IngestFileAsync(path, encoderSpec, batch.Labels.For(path), c), ct);
                results.AddRange(batch.Refused);
                return parse.GetValue(noWait) ? IngestionProgress.Report(results, new Dictionary<string, VideoIndexEntry>())
                    : await IngestionProgress.FollowAsync(client.Grains, results, ct, (r, c) => ingestor.RestoreSourceAsync(r.Path, r.VideoId, c));
            });
        });
        return command;
    }
}

/// <summary>What `ingest` / `import-embeddings` will send, checked before connecting: a usage error needs no silo.</summary>
public sealed record IngestionInputs(IReadOnlyList<string> Files, List<(string Path, IngestResult? Result, string? Error)> Refused, InputLabels Labels, int Parallel)
{
    /// <summary>
    /// Expands the arguments, reads --labels and runs <paramref name="checkOptions"/>; prints each problem. Null (after an
    /// error line) when nothing can be sent; otherwise the files, plus the inputs refused (reported with the results).
    /// </summary>
    public static IngestionInputs? Check(IEnumerable<string> targets, IReadOnlySet<string> extensions, string kind, string? labels, int parallel, Action? checkOptions = null)
    {
        IReadOnlyList<InputFile> inputs;
        InputLabels labelOf;
        try
        {
            if (parallel < 1) throw new ArgumentException($"--parallel must be at least 1 (got {parallel})");
            checkOptions?.Invoke();
            labelOf = InputLabels.Parse(labels);
            inputs = InputFiles.Expand(targets, extensions, kind);
        }
        catch (ArgumentException e)
        {
            CommandLine.Error(e.Message);
            return null;
        }
        var files = inputs.Where(i => i.Problem is null).Select(i => i.Path).ToList();
        var refused = inputs.Where(i => i.Problem is not null).Select(i => (i.Path, (IngestResult?)null, i.Problem)).ToList();
        if (files.Count == 0)
        {
            foreach (var (_, _, problem) in refused) CommandLine.Error(problem!);
            CommandLine.Error($"no {kind} files to send");
            return null;
        }
        if (labelOf.Unmatched(files) is { } unmatched) CommandLine.Warning(unmatched);
        return new IngestionInputs(files, refused, labelOf, parallel);
    }
}

/// <summary>Progress bars for registration and processing, shared by ingest and import-embeddings.</summary>
public static class IngestionProgress
{
    public static Task<List<(string Path, IngestResult? Result, string? Error)>> RegisterAsync(
        IReadOnlyList<string> files, int parallel, Func<string, CancellationToken, Task<IngestResult>> ingest, CancellationToken ct) =>
        RegisterAsync($"upload + register {files.Count} file(s)", OneBatch(files), f => f, parallel, ingest, ct);

    private static async IAsyncEnumerable<IReadOnlyList<T>> OneBatch<T>(IReadOnlyList<T> items)
    {
        await Task.CompletedTask;
        yield return items;
    }

    /// <summary>
    /// Registers <paramref name="batches"/> (one list of files, or the pages of a container listing: the total grows as pages
    /// come), <paramref name="parallel"/> at a time, each waiting out outages (<see cref="RetryFor"/>). A refusal no retry can
    /// change and every item would meet (<see cref="IsStorageWide"/>) stops the batch; any other failure is that item's.
    /// </summary>
    public static async Task<List<(string Path, IngestResult? Result, string? Error)>> RegisterAsync<T>(string title,
        IAsyncEnumerable<IReadOnlyList<T>> batches, Func<T, string> nameOf, int parallel, Func<T, CancellationToken, Task<IngestResult>> ingest, CancellationToken ct)
    {
        var results = new List<(string, IngestResult?, string?)>();
        // A refusal no retry can change (501, 403, a missing container or account) stops the whole batch: every other file
        // would meet it too. It is reported once, by the caller (CommandLine.WithClientAsync), and the command exits non-zero.
        StorageFailure? stopped = null;
        Exception? stoppedBy = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        await AnsiConsole.Progress().AutoClear(false).StartAsync(async ctx =>
        {
            var task = ctx.AddTask(title, maxValue: 1);
            var seen = 0;
            var retries = RegistrationRetries((e, delay) =>
            {
                var why = StorageFailure.Find(e) is { } f ? f.Message : e.GetType().Name;
                task.Description = $"{title} (storage or cluster unavailable: {Markup.Escape(why)}; waiting {delay.TotalSeconds:F0} s)";
            });
            try
            {
                await foreach (var batch in batches.WithCancellation(stop.Token))
                {
                    seen += batch.Count;
                    task.MaxValue = Math.Max(1, seen);
                    await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallel), CancellationToken = stop.Token }, async (item, c) =>
                    {
                        var name = nameOf(item);
                        (string, IngestResult?, string?) outcome;
                        try { outcome = (name, await retries.ExecuteAsync(async token => await ingest(item, token), c), null); }
                        catch (Exception e) when (e is not OperationCanceledException && StorageFailure.Find(e) is { IsPermanent: true } failure
                                                  && IsStorageWide(failure))
                        {
                            lock (results) { stopped ??= failure; stoppedBy ??= e; }
                            await stop.CancelAsync();
                            return;
                        }
                        catch (Exception e) when (e is not OperationCanceledException) { outcome = (name, null, e.Message); }
                        lock (results) results.Add(outcome);
                        task.Increment(1);
                    });
                }
            }
            catch (OperationCanceledException) when (stopped is not null && !ct.IsCancellationRequested) { }
        });
        if (stopped is not null) throw new PermanentStorageFailureException(stopped, stoppedBy!);
        return results;
    }

    /// <summary>
    /// A refusal every file would meet: the storage lacks the operation, denies access, or its container or account is missing.
    /// (Another 4xx, such as one blob that is not there, concerns that file only.)
    /// </summary>
    public static bool IsStorageWide(StorageFailure failure) =>
        failure.Status is 501 or 505 or 401 or 403 || failure.ErrorCode is "ContainerNotFound" or "ResourceNotFound" or "AccountNotFound" or "HostNotFound" or "InvalidResourceName";

    /// <summary>How long a registration keeps trying through a storage outage or a silo failover before it is reported as not registered.</summary>
    public static readonly TimeSpan RetryFor = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Uploads and registrations wait out storage outages and silo failovers (exponential back-off up to 30 s, for at most
    /// <see cref="RetryFor"/>) instead of reporting a file as not registered: nothing is sent twice (uploads are create-only,
    /// registration is idempotent).
    /// </summary>
    private static ResiliencePipeline RegistrationRetries(Action<Exception, TimeSpan> onRetry) => new ResiliencePipelineBuilder()
        .AddTimeout(RetryFor) // outermost: bounds all the attempts together
        .AddRetry(new Polly.Retry.RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => LvMae.Storage.StorageErrors.IsOutage(e)
                || e is OrleansMessageRejectionException or SiloUnavailableException or TimeoutException
                || (e is OrleansException { InnerException: { } inner } && LvMae.Storage.StorageErrors.IsOutage(inner))),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromSeconds(1),
            MaxDelay = TimeSpan.FromSeconds(30),
            UseJitter = true,
            OnRetry = args => { onRetry(args.Outcome.Exception!, args.RetryDelay); return default; },
        })
        .Build();

    /// <summary>Times a video whose source storage lost has it uploaded again by one ingest.</summary>
    public const int MaxSourceRestores = 2;

    /// <summary>
    /// Follows the registered videos through the corpus index until every one is Embedded or Failed, and says so only after
    /// asking for all of them once more: a storage that crashed can lose a final state after it was seen, and the cluster
    /// then works the video again. <paramref name="restoreSource"/> (ingest): a video that failed because its source blob is
    /// gone (lost by storage) gets its file uploaded again and is retried, at most <see cref="MaxSourceRestores"/> times.
    /// </summary>
    public static async Task<int> FollowAsync(IGrainFactory grains, List<(string Path, IngestResult? Result, string? Error)> results, CancellationToken ct,
        Func<IngestResult, CancellationToken, Task<bool>>? restoreSource = null)
    {
        var ids = results.Where(r => r.Result is not null).Select(r => r.Result!.VideoId).Distinct().ToList();
        var byId = results.Where(r => r.Result is not null).GroupBy(r => r.Result!.VideoId).ToDictionary(g => g.Key, g => g.First().Result!);
        var restores = new Dictionary<string, int>(StringComparer.Ordinal);
        var final = new Dictionary<string, VideoIndexEntry>();
        await AnsiConsole.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var probed = ctx.AddTask("probed", maxValue: Math.Max(1, ids.Count));
                var embedded = ctx.AddTask("embedded", maxValue: Math.Max(1, ids.Count));
                var failed = ctx.AddTask("failed", maxValue: Math.Max(1, ids.Count));
                // Only the videos not yet finished are asked for, one call per poll (the silo fans out to their shards).
                var open = new HashSet<string>(ids, StringComparer.Ordinal);
                var confirming = false;
                async Task<bool> TryRestoreAsync(IngestResult video)
                {
                    try { return await restoreSource(video, ct); }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        failed.Description = $"failed (uploading {Path.GetFileName(video.Path)} again failed: {e.GetType().Name}; tried again later)";
                        return false; // the confirming pass asks again
                    }
                }
                while (!ct.IsCancellationRequested)
                {
                    try
                    {
                        foreach (var chunk in open.ToList().Chunk(5000))
                            foreach (var e in await grains.IndexEntriesAsync(chunk))
                            {
                                final[e.Id] = e;
                                if (e.Stage is VideoStage.Failed && e.FailureKind == VideoFailure.SourceMissingKind && restoreSource is not null
                                    && restores.GetValueOrDefault(e.Id) < MaxSourceRestores && await TryRestoreAsync(byId[e.Id]))
                                {
                                    restores[e.Id] = restores.GetValueOrDefault(e.Id) + 1;
                                    continue; // retried: followed on
                                }
                                if (e.Stage is VideoStage.Embedded or VideoStage.Failed) open.Remove(e.Id);
                            }
                    }
                    catch (Exception e) when (e is OrleansException or TimeoutException)
                    {
                        // A silo died and the cluster has not noticed yet: its videos resume elsewhere; keep following.
                        probed.Description = $"probed (cluster busy: {e.GetType().Name}, retrying)";
                    }
                    probed.Value = final.Values.Count(e => e.Stage is not VideoStage.Registered);
                    embedded.Value = final.Values.Count(e => e.Stage == VideoStage.Embedded);
                    failed.Value = final.Values.Count(e => e.Stage == VideoStage.Failed);
                    if (open.Count == 0)
                    {
                        if (confirming) break; // every video finished, twice in a row
                        confirming = true;
                        open.UnionWith(ids); // the confirming pass: all of them once more
                        continue;
                    }
                    confirming = false;
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
            });
        return Report(results, final);
    }

    public static int Report(List<(string Path, IngestResult? Result, string? Error)> results, IReadOnlyDictionary<string, VideoIndexEntry> final)
    {
        var table = new ResultTable("file", "video id", "state", "detail");
        var failures = 0;
        // A file by its name; an argument that named no file as typed.
        static string Display(string path) => File.Exists(path) ? Path.GetFileName(path) : path;
        foreach (var (path, result, error) in results.OrderBy(r => r.Path, StringComparer.Ordinal))
        {
            if (result is null) { failures++; table.Row(Display(path), "-", new Cell("not registered", "red"), error); continue; }
            var entry = final.GetValueOrDefault(result.VideoId);
            var stage = entry?.Stage ?? result.Status.Stage;
            if (stage == VideoStage.Failed) failures++;
            var detail = entry?.FailureMessage ?? (stage == VideoStage.Embedded ? $"{entry?.SegmentCount ?? result.Status.SegmentCount} segments" : result.Uploaded ? "uploaded" : "already known");
            var color = stage switch { VideoStage.Embedded => "green", VideoStage.Failed => "red", _ => "yellow" };
            table.Row(Display(path), result.VideoId, new Cell(stage.ToString(), color), detail);
        }
        // On a terminal a long corpus is summarised; redirected output always lists every file (scripts read it).
        if (results.Count <= 200 || !CliConsole.IsTerminal) table.Write();
        AnsiConsole.MarkupLine($"{results.Count} file(s), {failures} failed or not registered");
        return failures == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }
}
