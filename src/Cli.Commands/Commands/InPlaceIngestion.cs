using LvMae.Client;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Storage;
using Spectre.Console;

namespace LvMae.Cli.Commands;

/// <summary>Where `ingest` registers blobs in place from, as the options gave it (checked before connecting).</summary>
public sealed record InPlaceRequest(string? Container, string? SourceUrl, string? SourceConnectionString, string Prefix,
    IReadOnlyList<(long Line, string Name, IReadOnlyList<string> Labels)>? Manifest, InputLabels Labels, int Parallel, bool DryRun, bool ReembedChanged)
{
    /// <summary>Header names that mark a manifest's first column as the blob name.</summary>
    public static readonly IReadOnlyList<string> ManifestHeaders = ["blob", "name", "blobName", "blob_name", "path", "file"];

    /// <summary>True when the options ask for a registration in place (a container, a source URL or a source connection string).</summary>
    public static bool Asked(string? container, string? sourceUrl, string? connectionString) =>
        container is not null || sourceUrl is not null || connectionString is not null;

    /// <summary>The request, or null after printing each usage error.</summary>
    public static InPlaceRequest? Check(IReadOnlyList<string> inputs, string? container, string? sourceUrl, string? connectionString,
        string? prefix, string? manifest, string? labels, int parallel, bool dryRun, bool reembedChanged, Action? checkOptions)
    {
        try
        {
            if (inputs.Count > 0) throw new ArgumentException("give local files, or a container to register in place (--container, --source-url), not both");
            if (sourceUrl is not null && (container is not null || connectionString is not null))
                throw new ArgumentException("--source-url names its container: give it alone, without --container or --source-connection-string");
            if (connectionString is not null && container is null)
                throw new ArgumentException("--source-connection-string needs --container (the container of that account that holds the videos)");
            if (manifest is not null && !string.IsNullOrEmpty(prefix))
                throw new ArgumentException("--manifest names whole blob names: give it without --prefix");
            if (parallel < 1) throw new ArgumentException($"--parallel must be at least 1 (got {parallel})");
            if (sourceUrl is not null) InPlaceSources.FromSasUrl(sourceUrl); // a malformed URL is a usage error
            checkOptions?.Invoke();
            return new InPlaceRequest(container, sourceUrl, connectionString, prefix ?? "", manifest is null ? null : ReadManifest(manifest),
                InputLabels.Parse(labels), parallel, dryRun, reembedChanged);
        }
        catch (ArgumentException e)
        {
            CommandLine.Error(e.Message);
            return null;
        }
    }

    /// <summary>A manifest: blob names (first column) with labels, read like a --labels CSV; a name twice is refused with its lines.</summary>
    public static IReadOnlyList<(long Line, string Name, IReadOnlyList<string> Labels)> ReadManifest(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"--manifest {path}: file not found");
        IReadOnlyList<CsvRecord> records;
        try { records = CsvFile.Read(path, comments: true); }
        catch (CsvDataException e) { throw new ArgumentException(e.Message, e); }
        catch (IOException e) { throw new ArgumentException($"{path}: cannot be read: {e.Message}", e); }
        var rows = InputLabels.Rows(Path.GetFullPath(path), records, ManifestHeaders).ToList();
        if (rows.GroupBy(r => r.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"{path}: blob {LabelRules.Quote(twice.Key)} is named twice (lines {string.Join(", ", twice.Select(r => r.Line))})");
        if (rows.Count == 0) throw new ArgumentException($"{path}: the manifest names no blob");
        return rows;
    }

    /// <summary>The container the request names, reached with the cluster's settings or the credentials given.</summary>
    public SourceContainer Open(LvMaeClientSettings settings)
    {
        var options = StorageFailure.BlobOptions();
        if (SourceUrl is not null) return InPlaceSources.FromSasUrl(SourceUrl, options);
        if (SourceConnectionString is not null) return InPlaceSources.FromConnectionString(SourceConnectionString, Container!, options);
        // The cluster's own containers hold what it wrote (uploaded sources, embeddings, state): never a corpus to register.
        if (Container == settings.Storage.Container || Container == BlobLayout.GrainStateContainer(settings.Storage.Container))
            throw new ArgumentException($"--container {Container}: is the cluster's own {(Container == settings.Storage.Container ? "data" : "grain state")} container, not a corpus (give the container that holds the videos)");
        return InPlaceSources.ClusterContainer(settings.Storage.ConnectionString, Container!, options);
    }
}

/// <summary>
/// `lvmae ingest --container|--source-url ...`: registers blobs where they are, a listing page (or a manifest chunk) at a
/// time; the client reads names and properties only, never a video's bytes.
/// </summary>
public static class InPlaceIngestion
{
    private const int ManifestChunk = 500;

    public static async Task<int> RunAsync(InPlaceRequest request, string encoder, bool noWait, LvMaeClientSettings settings, LvMaeClient client, CancellationToken ct)
    {
        var container = request.Open(settings);
        var skipped = 0L;
        var batches = Candidates(container, request, n => Interlocked.Add(ref skipped, n), ct);
        if (request.DryRun) return await DryRunAsync(container, batches, request, client, ct);

        // The silos read another account's container with the credentials given here; checked with one read first, so a
        // wrong SAS never replaces a working one.
        if (container.Access is { } access)
        {
            await CheckAccessAsync(container, request, ct);
            await client.Grains.GetGrain<ISourceStoreGrain>(container.Store).Set(access);
        }

        var ingestor = new VideoIngestor(CommandLine.Blobs(settings), client.Grains);
        var refused = new List<(string Path, IngestResult? Result, string? Error)>();
        var sources = Accepted(batches, refused);
        var results = await IngestionProgress.RegisterAsync($"register in place from {Markup.Escape(container.ToString())}", sources,
            c => c.Source.ToString(), request.Parallel,
            (c, _) => ingestor.RegisterInPlaceAsync(c.Source, encoder, c.Labels, request.ReembedChanged), ct);
        results.AddRange(refused);
        if (skipped > 0) CommandLine.Warning($"{skipped} blob(s) under the prefix without a video extension were not registered");
        if (results.Count == 0)
        {
            CommandLine.Error($"no video blobs {(request.Manifest is null ? $"under '{request.Prefix}' " : "")}in {container}");
            return ExitCodes.Failed;
        }
        return noWait ? IngestionProgress.Report(results, new Dictionary<string, VideoIndexEntry>())
            : await IngestionProgress.FollowAsync(client.Grains, results, ct);
    }

    /// <summary>One blob to register: its source and labels, or why it cannot be registered.</summary>
    private sealed record Candidate(string Name, BlobSource? Source, string? Problem, IReadOnlyList<string> Labels);

    private sealed record Ready(BlobSource Source, IReadOnlyList<string> Labels);

    /// <summary>The blobs of the listing (page by page) or of the manifest (chunk by chunk), with their labels.</summary>
    private static async IAsyncEnumerable<IReadOnlyList<Candidate>> Candidates(SourceContainer container, InPlaceRequest request, Action<long> skipped,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        if (request.Manifest is { } manifest)
        {
            foreach (var chunk in manifest.Chunk(ManifestChunk))
            {
                var read = new Candidate[chunk.Length];
                await Parallel.ForEachAsync(Enumerable.Range(0, chunk.Length), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, request.Parallel), CancellationToken = ct },
                    async (i, c) =>
                    {
                        var (line, name, labels) = chunk[i];
                        var (source, problem) = await InPlaceSources.ReadAsync(container, name, c);
                        read[i] = new Candidate(name, source, problem is null ? null : $"manifest line {line}: {problem}", labels.Union(request.Labels.For(name)).ToList());
                    });
                yield return read;
            }
            yield break;
        }
        await foreach (var page in InPlaceSources.ListPagesAsync(container, request.Prefix, VideoIngestor.VideoExtensions, skipped,
                           waiting: (e, delay) => CommandLine.Warning($"listing {container}: storage unavailable ({StorageFailure.Find(e)?.Message ?? e.GetType().Name}); waiting {delay.TotalSeconds:F0} s"),
                           cancellationToken: ct))
            yield return page.Select(p => new Candidate(p.Name, p.Source, p.Problem, request.Labels.For(p.Name))).ToList();
    }

    /// <summary>The candidates that can be registered; the others go to <paramref name="refused"/> with their problem.</summary>
    private static async IAsyncEnumerable<IReadOnlyList<Ready>> Accepted(IAsyncEnumerable<IReadOnlyList<Candidate>> batches,
        List<(string Path, IngestResult? Result, string? Error)> refused)
    {
        await foreach (var batch in batches)
        {
            foreach (var bad in batch.Where(c => c.Source is null)) refused.Add((bad.Name, null, bad.Problem));
            yield return batch.Where(c => c.Source is not null).Select(c => new Ready(c.Source!, c.Labels)).ToList();
        }
    }

    /// <summary>One read with the credentials given (a storage-wide refusal throws and is reported once).</summary>
    private static async Task CheckAccessAsync(SourceContainer container, InPlaceRequest request, CancellationToken ct)
    {
        if (request.Manifest is { } manifest) { await InPlaceSources.ReadAsync(container, manifest[0].Name, ct); return; }
        await using var pages = container.Client.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = request.Prefix.Length == 0 ? null : request.Prefix }, ct)
            .AsPages(pageSizeHint: 1).GetAsyncEnumerator(ct);
        await pages.MoveNextAsync();
    }

    /// <summary>`--dry-run`: what a run would do (new, already registered, changed since, refused), nothing registered.</summary>
    private static async Task<int> DryRunAsync(SourceContainer container, IAsyncEnumerable<IReadOnlyList<Candidate>> batches, InPlaceRequest request, LvMaeClient client, CancellationToken ct)
    {
        long fresh = 0, known = 0, changed = 0;
        var refused = new List<(string Name, string Problem)>();
        var changedNames = new List<string>();
        await foreach (var batch in batches.WithCancellation(ct))
        {
            foreach (var bad in batch.Where(c => c.Source is null)) refused.Add((bad.Name, bad.Problem!));
            var ready = batch.Where(c => c.Source is not null).ToDictionary(c => InPlaceSources.VideoId(c.Source!), StringComparer.Ordinal);
            if (ready.Count == 0) continue;
            var entries = await client.Grains.IndexEntriesAsync(ready.Keys.ToList());
            var registered = entries.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
            fresh += ready.Count - registered.Count;
            // Only a registered video's own state knows the ETag it was registered with.
            await Parallel.ForEachAsync(registered, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, request.Parallel), CancellationToken = ct }, async (id, _) =>
            {
                var status = await client.Grains.GetGrain<IVideoGrain>(id).GetStatus();
                var offered = ready[id].Source!;
                lock (changedNames)
                {
                    if (status.InPlace is { } was && was.ETag != offered.ETag) { changed++; changedNames.Add(offered.Blob); }
                    else known++;
                }
            });
        }
        var table = new ResultTable("blobs", "count", "what a run would do");
        table.Row("new", fresh.ToString(System.Globalization.CultureInfo.InvariantCulture), "registered and embedded");
        table.Row("already registered", known.ToString(System.Globalization.CultureInfo.InvariantCulture), "nothing (labels merged)");
        table.Row("changed since registered", changed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            request.ReembedChanged ? "embedded again (--reembed-changed)" : "refused (add --reembed-changed to embed the new content)");
        table.Row("refused", refused.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), "reported, not registered");
        table.Write();
        foreach (var name in changedNames.Order(StringComparer.Ordinal).Take(20)) AnsiConsole.MarkupLine($"changed: {Markup.Escape(name)}");
        foreach (var (name, problem) in refused.Take(20)) AnsiConsole.MarkupLine($"refused: {Markup.Escape(name)}: {Markup.Escape(problem)}");
        AnsiConsole.MarkupLine($"dry run over {Markup.Escape(container.ToString())}: nothing was registered");
        return ExitCodes.Ok;
    }
}
