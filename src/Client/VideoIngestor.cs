using System.Security.Cryptography;
using LvMae.Contracts;
using LvMae.Storage;
using Microsoft.Extensions.FileSystemGlobbing;

namespace LvMae.Client;

/// <summary>The outcome of ingesting one file.</summary>
public sealed record IngestResult(string Path, string VideoId, bool Uploaded, VideoStatus Status);

/// <summary>
/// Client side of ingestion (CLI, tests, benchmarks): a video's id is its content hash, so the same file ingested twice is
/// the same video. Uploads the source to videos/&lt;id&gt;/source.&lt;ext&gt; (create-only) and registers the video grain.
/// </summary>
public sealed class VideoIngestor(BlobStore blobs, IGrainFactory grains)
{
    /// <summary>File extensions `ingest DIR` picks up.</summary>
    public static readonly IReadOnlySet<string> VideoExtensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        { ".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv" };

    /// <summary>"v" + the first 24 hex digits of the SHA-256 of the content.</summary>
    public static async Task<(string Id, string Sha256)> ContentIdAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = File.OpenRead(path);
        var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
        return ("v" + hash[..24], hash);
    }

    public async Task<IngestResult> IngestFileAsync(string path, string encoder, IReadOnlyList<string> labels, CancellationToken cancellationToken = default)
    {
        BlobLayout.EncoderFileName(encoder);
        var (id, sha) = await ContentIdAsync(path, cancellationToken);
        var blob = BlobLayout.Source(id, Path.GetExtension(path));
        var uploaded = false;
        // Create-only: the id is the content hash, so an existing source is this very content (concurrent ingests of one file upload once).
        try
        {
            await blobs.UploadFileAsync(blob, path, new Dictionary<string, string>
            {
                ["sha256"] = sha,
                ["originalname"] = BlobLayout.MetadataValue(Path.GetFileName(path)),
            }, ifMatch: null, cancellationToken: cancellationToken);
            uploaded = true;
        }
        catch (BlobConflictException) { }
        return await RegisterAsync(path, id, VideoSourceKind.VideoFile, blob, encoder, labels, sha, uploaded);
    }

    /// <summary>
    /// Registers a blob that stays where it is (<see cref="InPlaceSources"/>): no byte of it passes through this client, and
    /// the data container never holds a copy; its silo reads it there. Its id comes from account, container and name.
    /// </summary>
    public async Task<IngestResult> RegisterInPlaceAsync(BlobSource source, string encoder, IReadOnlyList<string> labels, bool reembedChanged = false)
    {
        var id = InPlaceSources.VideoId(source);
        var status = await grains.GetGrain<IVideoGrain>(id).Register(new VideoRegistration
        {
            Kind = VideoSourceKind.VideoFile,
            SourceBlob = source.ToString(),
            InPlace = source,
            Encoder = encoder,
            Labels = labels,
            OriginalName = source.Blob,
            SizeBytes = source.Length,
            ReplaceChangedSource = reembedChanged,
        });
        return new IngestResult(source.ToString(), id, Uploaded: false, status);
    }

    /// <summary>
    /// Uploads a video's source again and retries the video: storage lost the blob this ingest uploaded (a storage that
    /// crashed comes back without what it acknowledged last), and the video failed on it. Only when the file still has the
    /// video's content (its id is its hash); false otherwise.
    /// </summary>
    public async Task<bool> RestoreSourceAsync(string path, string id, CancellationToken cancellationToken = default)
    {
        var (now, sha) = await ContentIdAsync(path, cancellationToken);
        if (now != id) return false;
        try
        {
            await blobs.UploadFileAsync(BlobLayout.Source(id, Path.GetExtension(path)), path, new Dictionary<string, string>
            {
                ["sha256"] = sha,
                ["originalname"] = BlobLayout.MetadataValue(Path.GetFileName(path)),
            }, ifMatch: null, cancellationToken: cancellationToken);
        }
        catch (BlobConflictException) { } // there again (another ingest of the same file restored it)
        await grains.GetGrain<IVideoGrain>(id).Retry();
        return true;
    }

    /// <summary>
    /// Imports a precomputed float32 [N, d] .npy: the video id is the file's stem when it is a valid id (Python pipelines
    /// name files by video id), else its content id. The upload is create-only: the same content is not sent twice, and
    /// other content under an id already registered is refused (rename the file) instead of replacing what the video's state
    /// describes; an upload left by a failed or unregistered import is replaced. The grain validates it and marks the video Embedded.
    /// </summary>
    public async Task<IngestResult> ImportEmbeddingsAsync(string path, string encoderName, IReadOnlyList<string> labels, CancellationToken cancellationToken = default)
    {
        var stem = Path.GetFileNameWithoutExtension(path);
        if (new FileInfo(path).Length <= InlineImportBytes) return await ImportInlineAsync(path, stem, encoderName, labels, cancellationToken);
        var (contentId, sha) = await ContentIdAsync(path, cancellationToken);
        var id = BlobLayout.IsValidId(stem) ? stem : contentId;
        var blob = BlobLayout.Embeddings(id, encoderName);
        var metadata = BlobLayout.ImportMetadata(sha, encoderName, Path.GetFileName(path));
        var uploaded = true;
        try { await blobs.UploadFileAsync(blob, path, metadata, ifMatch: null, cancellationToken: cancellationToken); }
        catch (BlobConflictException)
        {
            var existing = await blobs.TryGetPropertiesAsync(blob, cancellationToken);
            if (existing?.Metadata.GetValueOrDefault("sha256") == sha) uploaded = false; // this content is there already
            else
            {
                var status = await grains.GetGrain<IVideoGrain>(id).GetStatus();
                if (status.Exists && status.Stage != VideoStage.Failed)
                    throw new ArgumentException($"{path}: video id '{id}' is already registered from '{status.OriginalName}' with other content; rename the file to import it as another video");
                // Left by an import that failed or never registered: replace it, unless it changes under us.
                await blobs.UploadFileAsync(blob, path, metadata, ifMatch: existing?.ETag ?? "*", cancellationToken: cancellationToken);
            }
        }
        return await RegisterAsync(path, id, VideoSourceKind.Embeddings, blob, encoderName, labels, sha, uploaded);
    }

    /// <summary>
    /// Imports up to this size travel inside the registration (<see cref="VideoRegistration.Content"/>): one call, no client
    /// upload, no read-back by the silo. 0 = always upload first.
    /// </summary>
    public int InlineImportBytes { get; init; } = VideoRegistration.MaxInlineContentBytes;

    private async Task<IngestResult> ImportInlineAsync(string path, string stem, string encoderName, IReadOnlyList<string> labels, CancellationToken cancellationToken)
    {
        var content = await File.ReadAllBytesAsync(path, cancellationToken);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var id = BlobLayout.IsValidId(stem) ? stem : "v" + sha[..24];
        var status = await grains.GetGrain<IVideoGrain>(id).Register(new VideoRegistration
        {
            Kind = VideoSourceKind.Embeddings,
            SourceBlob = BlobLayout.Embeddings(id, encoderName),
            Encoder = encoderName,
            Labels = labels,
            OriginalName = Path.GetFileName(path),
            SizeBytes = content.Length,
            ContentHash = sha,
            Content = content,
        });
        return new IngestResult(path, id, Uploaded: true, status);
    }

    /// <summary>Registers the stored source with its video grain (idempotent: the grain merges a repeat).</summary>
    private async Task<IngestResult> RegisterAsync(string path, string id, VideoSourceKind kind, string blob, string encoder, IReadOnlyList<string> labels, string sha, bool uploaded)
    {
        var status = await grains.GetGrain<IVideoGrain>(id).Register(new VideoRegistration
        {
            Kind = kind,
            SourceBlob = blob,
            Encoder = encoder,
            Labels = labels,
            OriginalName = Path.GetFileName(path),
            SizeBytes = new FileInfo(path).Length,
            ContentHash = sha,
        });
        return new IngestResult(path, id, uploaded, status);
    }

    /// <summary>Files named by a file, a directory (recursively, video extensions) or a glob ("dir/*.mp4", "dir/**/*.mkv").</summary>
    public static IReadOnlyList<string> Expand(string target, IReadOnlySet<string>? extensions = null)
    {
        extensions ??= VideoExtensions;
        if (File.Exists(target)) return [Path.GetFullPath(target)];
        if (Directory.Exists(target))
            return Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories)
                .Where(f => extensions.Contains(Path.GetExtension(f))).Select(Path.GetFullPath).Order(StringComparer.Ordinal).ToList();
        if (target.IndexOfAny(['*', '?']) >= 0)
        {
            var full = Path.GetFullPath(target);
            var firstWild = full.IndexOfAny(['*', '?']);
            var root = Path.GetDirectoryName(full[..firstWild]) ?? "/";
            var pattern = full[(root.Length + 1)..];
            var matcher = new Matcher(StringComparison.Ordinal);
            matcher.AddInclude(pattern);
            return matcher.GetResultsInFullPath(root).Order(StringComparer.Ordinal).ToList();
        }
        throw new FileNotFoundException($"no file, directory or glob matches '{target}'");
    }
}
