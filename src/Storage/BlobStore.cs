using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace LvMae.Storage;

/// <summary>What a blob is, without its content.</summary>
public sealed record BlobEntry(string Name, long Size, string ETag, DateTimeOffset? LastModified, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>Append blobs: committed blocks (at most 50,000).</summary>
    public int? AppendBlocks { get; init; }
}

/// <summary>A blob opened for reading: its content as a stream (read once, then disposed), length, ETag and metadata.</summary>
public sealed record BlobReader(string Name, Stream Content, long Length, string ETag, IReadOnlyDictionary<string, string> Metadata) : IDisposable
{
    public void Dispose() => Content.Dispose();
}

/// <summary>A conditional upload lost the race: the blob exists (If-None-Match) or changed (If-Match).</summary>
public sealed class BlobConflictException(string blobName, string message, Exception inner) : Exception(message, inner)
{
    public string BlobName { get; } = blobName;
}

/// <summary>
/// Small blob I/O helpers over one container (the data container, or the grain-state container `&lt;container&gt;-state`; names from <see cref="BlobLayout"/>).
/// Metadata keys must be C# identifiers (Azure rule); values ASCII.
/// </summary>
public sealed class BlobStore
{
    private readonly Lazy<Task> _ready;

    public BlobStore(BlobContainerClient container)
    {
        Container = container;
        _ready = new Lazy<Task>(() => Container.CreateIfNotExistsAsync(), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public BlobStore(string connectionString, string containerName = BlobLayout.DefaultContainer, BlobClientOptions? options = null)
        : this(new BlobContainerClient(connectionString, containerName, options ?? StorageFailure.BlobOptions())) { }

    public BlobContainerClient Container { get; }

    public Task EnsureContainerAsync(CancellationToken cancellationToken = default) =>
        cancellationToken.IsCancellationRequested ? Task.FromCanceled(cancellationToken) : _ready.Value;

    public BlobClient Blob(string name) => Container.GetBlobClient(name);

    /// <summary>Uploads (overwrites) bytes; returns the new ETag.</summary>
    public Task<string> UploadAsync(string name, ReadOnlyMemory<byte> content, IDictionary<string, string>? metadata = null,
        string? contentType = null, CancellationToken cancellationToken = default) =>
        UploadCoreAsync(name, BinaryData.FromBytes(content), metadata, contentType, null, cancellationToken);

    /// <summary>Uploads (overwrites) a local file; returns the new ETag.</summary>
    public Task<string> UploadFileAsync(string name, string path, IDictionary<string, string>? metadata = null,
        string? contentType = null, CancellationToken cancellationToken = default) =>
        UploadFileCoreAsync(name, path, metadata, contentType, null, cancellationToken);

    /// <summary>Conditional upload of a local file (as <see cref="UploadConditionalAsync"/>: <paramref name="ifMatch"/> null =
    /// create only, "*" = only if it exists, else only at that ETag); throws <see cref="BlobConflictException"/> when the condition fails.</summary>
    public Task<string> UploadFileAsync(string name, string path, IDictionary<string, string>? metadata, string? ifMatch,
        string? contentType = null, CancellationToken cancellationToken = default) =>
        UploadFileCoreAsync(name, path, metadata, contentType, Conditions(ifMatch), cancellationToken);

    private async Task<string> UploadFileCoreAsync(string name, string path, IDictionary<string, string>? metadata,
        string? contentType, BlobRequestConditions? conditions, CancellationToken cancellationToken)
    {
        await EnsureContainerAsync(cancellationToken);
        var options = new BlobUploadOptions { Metadata = metadata, HttpHeaders = Headers(contentType), Conditions = conditions };
        await using var stream = File.OpenRead(path);
        try
        {
            var response = await Blob(name).UploadAsync(stream, options, cancellationToken);
            return response.Value.ETag.ToString();
        }
        catch (RequestFailedException e) when (conditions is not null && e.Status is 404 or 409 or 412)
        {
            throw new BlobConflictException(name, $"conditional upload of {name} failed: {e.ErrorCode}", e);
        }
    }

    private static BlobRequestConditions Conditions(string? ifMatch) => ifMatch is null
        ? new BlobRequestConditions { IfNoneMatch = ETag.All }
        : new BlobRequestConditions { IfMatch = ifMatch == "*" ? ETag.All : new ETag(ifMatch) };

    /// <summary>
    /// Conditional upload: <paramref name="ifMatch"/> null = only if the blob does not exist (If-None-Match:*),
    /// else only if its ETag still matches. Throws <see cref="BlobConflictException"/> when the condition fails.
    /// </summary>
    public Task<string> UploadConditionalAsync(string name, ReadOnlyMemory<byte> content, string? ifMatch,
        IDictionary<string, string>? metadata = null, string? contentType = null, CancellationToken cancellationToken = default)
    {
        return UploadCoreAsync(name, BinaryData.FromBytes(content), metadata, contentType, Conditions(ifMatch), cancellationToken);
    }

    private async Task<string> UploadCoreAsync(string name, BinaryData data, IDictionary<string, string>? metadata,
        string? contentType, BlobRequestConditions? conditions, CancellationToken cancellationToken)
    {
        await EnsureContainerAsync(cancellationToken);
        var options = new BlobUploadOptions { Metadata = metadata, HttpHeaders = Headers(contentType), Conditions = conditions };
        try
        {
            var response = await Blob(name).UploadAsync(data, options, cancellationToken);
            return response.Value.ETag.ToString();
        }
        catch (RequestFailedException e) when (conditions is not null && e.Status is 409 or 412)
        {
            throw new BlobConflictException(name, $"conditional upload of {name} failed: {e.ErrorCode}", e);
        }
    }

    /// <summary>Downloads bytes, or null when the blob does not exist.</summary>
    public async Task<byte[]?> TryDownloadAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await Blob(name).DownloadContentAsync(cancellationToken);
            return response.Value.Content.ToArray();
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    /// <summary>Downloads bytes with the ETag they were read at, or null when the blob does not exist.</summary>
    public async Task<(byte[] Content, string ETag)?> TryDownloadWithETagAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await Blob(name).DownloadContentAsync(cancellationToken);
            return (response.Value.Content.ToArray(), response.Value.Details.ETag.ToString());
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    /// <summary>Opens a blob for reading (length, ETag and metadata in the same request), or null when it does not exist: content too large to hold in memory is read as it arrives.</summary>
    public async Task<BlobReader?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await Blob(name).DownloadStreamingAsync(cancellationToken: cancellationToken);
            var details = response.Value.Details;
            return new BlobReader(name, response.Value.Content, details.ContentLength, details.ETag.ToString(), new Dictionary<string, string>(details.Metadata));
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    /// <summary>Deletes the blob if it still has <paramref name="etag"/> (someone else's newer content is left alone).</summary>
    public async Task<bool> DeleteIfMatchAsync(string name, string etag, CancellationToken cancellationToken = default)
    {
        try
        {
            return (await Blob(name).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, new BlobRequestConditions { IfMatch = new ETag(etag) }, cancellationToken)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 412) { return false; }
    }

    /// <summary>Downloads to a local file (written to a temp name, then moved); throws when the blob is missing.</summary>
    public async Task DownloadToFileAsync(string name, string path, CancellationToken cancellationToken = default)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        var tmp = path + $".{Guid.NewGuid():N}.part";
        try
        {
            await Blob(name).DownloadToAsync(tmp, cancellationToken);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public async Task<bool> ExistsAsync(string name, CancellationToken cancellationToken = default)
    {
        try { return (await Blob(name).ExistsAsync(cancellationToken)).Value; }
        catch (RequestFailedException e) when (e.Status == 404) { return false; }
    }

    /// <summary>Properties and metadata, or null when the blob does not exist.</summary>
    public async Task<BlobEntry?> TryGetPropertiesAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            var p = (await Blob(name).GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            return new BlobEntry(name, p.ContentLength, p.ETag.ToString(), p.LastModified, new Dictionary<string, string>(p.Metadata))
            {
                AppendBlocks = p.BlobType == BlobType.Append ? p.BlobCommittedBlockCount : null,
            };
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    /// <summary>Every blob whose name starts with <paramref name="prefix"/>, with metadata.</summary>
    public async IAsyncEnumerable<BlobEntry> ListAsync(string prefix,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await EnsureContainerAsync(cancellationToken);
        await foreach (var item in Container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix, Traits = BlobTraits.Metadata }, cancellationToken))
            yield return new BlobEntry(item.Name, item.Properties.ContentLength ?? 0, item.Properties.ETag?.ToString() ?? "",
                item.Properties.LastModified, new Dictionary<string, string>(item.Metadata ?? new Dictionary<string, string>()));
    }

    public async Task<bool> DeleteIfExistsAsync(string name, CancellationToken cancellationToken = default) =>
        (await Blob(name).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: cancellationToken)).Value;

    private static BlobHttpHeaders? Headers(string? contentType) => contentType is null ? null : new BlobHttpHeaders { ContentType = contentType };
}
