using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Client;

/// <summary>
/// A container that holds source videos registered in place, as a client reaches it: the cluster's own storage account,
/// or another account through a SAS URL or a connection string.
/// </summary>
/// <param name="Store">"" for the cluster's account; else the source-store key ("account/container") the silos look up.</param>
/// <param name="Access">The credentials to hand to the silos (null: the cluster's account, which they already reach).</param>
public sealed record SourceContainer(string Store, string Account, string Container, BlobContainerClient Client, SourceStoreAccess? Access)
{
    /// <summary>"account:container" (the cluster's: "container").</summary>
    public override string ToString() => Store.Length == 0 ? Container : $"{Account}:{Container}";
}

/// <summary>
/// The rules of sources registered in place: a video's id from where its blob is, and how a container is reached from what
/// the user gives (a container of the cluster's account, a SAS URL, a connection string). Pure except for the clients it builds.
/// </summary>
public static class InPlaceSources
{
    /// <summary>
    /// "v" + the first 24 hex digits of SHA-256("lvmae-in-place", account, container, blob name): stable without reading the
    /// bytes, and the same whether the blob is reached through the cluster's account or a SAS of the same account.
    /// </summary>
    public static string VideoId(string account, string container, string blob)
    {
        var key = $"lvmae-in-place\n{account.ToLowerInvariant()}\n{container}\n{blob}";
        return "v" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..24];
    }

    /// <summary>The id of a registered source.</summary>
    public static string VideoId(BlobSource source) => VideoId(source.Account, source.Container, source.Blob);

    /// <summary>The source-store key of another account's container.</summary>
    public static string StoreKey(string account, string container) => $"{account.ToLowerInvariant()}/{container}";

    /// <summary>Why a blob name cannot be a source (null: it can): empty, over 1,024 characters, control characters, or a name that ends in '/' or '.'.</summary>
    public static string? NameProblem(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) return "the blob name is empty";
        if (name.Length > 1024) return $"the blob name has {name.Length} characters (at most 1,024)";
        if (name.Any(char.IsControl)) return "the blob name contains a control character";
        if (name.EndsWith('/') || name.EndsWith('.')) return "the blob name ends in '/' or '.' (a folder, not a file)";
        return null;
    }

    /// <summary>A container of the cluster's own account.</summary>
    public static SourceContainer ClusterContainer(string connectionString, string container, BlobClientOptions? options = null)
    {
        CheckContainerName(container);
        var client = new BlobContainerClient(connectionString, container, options);
        return new SourceContainer("", client.AccountName, container, client, null);
    }

    /// <summary>A container URL with a SAS token in its query ("https://account.blob.core.windows.net/videos?sv=...&amp;sig=...").</summary>
    public static SourceContainer FromSasUrl(string url, BlobClientOptions? options = null)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            throw new ArgumentException($"--source-url '{Redact(url)}': not an http(s) URL of a container");
        var parts = new BlobUriBuilder(uri);
        if (string.IsNullOrEmpty(parts.BlobContainerName) || !string.IsNullOrEmpty(parts.BlobName))
            throw new ArgumentException($"--source-url '{Redact(url)}': names no container, or names a blob (give the container's URL, a prefix goes in --prefix)");
        if (string.IsNullOrEmpty(parts.Sas?.Signature))
            throw new ArgumentException($"--source-url '{Redact(url)}': has no SAS token (sig=...): the silos need one to read the container");
        CheckContainerName(parts.BlobContainerName);
        var sas = parts.Sas.ToString();
        parts.Sas = null;
        parts.Query = null;
        var containerUrl = parts.ToUri().ToString().TrimEnd('/');
        var client = new BlobContainerClient(new Uri($"{containerUrl}?{sas}"), options);
        var account = parts.AccountName is { Length: > 0 } a ? a : uri.Host.Split('.')[0];
        return new SourceContainer(StoreKey(account, parts.BlobContainerName), account, parts.BlobContainerName, client,
            new SourceStoreAccess { ContainerUrl = containerUrl, SasToken = sas, UpdatedAt = DateTimeOffset.UtcNow });
    }

    /// <summary>A container of the account a connection string names.</summary>
    public static SourceContainer FromConnectionString(string connectionString, string container, BlobClientOptions? options = null)
    {
        CheckContainerName(container);
        BlobContainerClient client;
        try { client = new BlobContainerClient(connectionString, container, options); }
        catch (FormatException e) { throw new ArgumentException($"--source-connection-string: not a storage connection string ({e.Message})", e); }
        return new SourceContainer(StoreKey(client.AccountName, container), client.AccountName, container, client,
            new SourceStoreAccess { ContainerUrl = client.Uri.ToString().TrimEnd('/'), ConnectionString = connectionString, UpdatedAt = DateTimeOffset.UtcNow });
    }

    /// <summary>The registered source of a listed blob.</summary>
    public static BlobSource Source(SourceContainer container, string name, BlobItemProperties properties) =>
        Source(container, name, properties.ETag ?? throw new InvalidOperationException($"{container}/{name}: listed without an ETag"),
            properties.ContentLength ?? 0, properties.LastModified, properties.ContentHash);

    /// <summary>The registered source of a blob read by name (a manifest's row).</summary>
    public static BlobSource Source(SourceContainer container, string name, BlobProperties properties) =>
        Source(container, name, properties.ETag, properties.ContentLength, properties.LastModified, properties.ContentHash);

    private static BlobSource Source(SourceContainer container, string name, ETag etag, long length, DateTimeOffset? lastModified, byte[]? md5) => new()
    {
        Store = container.Store,
        Account = container.Account,
        Container = container.Container,
        Blob = name,
        ETag = etag.ToString(),
        Length = length,
        LastModified = lastModified,
        ContentMd5 = md5 is { Length: > 0 } ? Convert.ToBase64String(md5) : null,
    };

    /// <summary>
    /// The blobs under <paramref name="prefix"/> with a video extension, a page at a time (the storage's pages, up to
    /// <paramref name="pageSize"/> names): a container of millions is never held whole. Blobs with another extension are
    /// counted in <paramref name="skipped"/>; names no source can have come back as problems. A storage outage is waited out
    /// (<paramref name="waitFor"/> at most, <paramref name="waiting"/> told of each wait), the listing going on from the page it
    /// reached; a refusal (403, a missing container) is thrown.
    /// </summary>
    public static async IAsyncEnumerable<IReadOnlyList<(string Name, BlobSource? Source, string? Problem)>> ListPagesAsync(
        SourceContainer container, string prefix, IReadOnlySet<string> extensions, Action<long>? skipped = null, int pageSize = 1000,
        TimeSpan? waitFor = null, Action<Exception, TimeSpan>? waiting = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? continuation = null;
        var options = new GetBlobsOptions { Prefix = string.IsNullOrEmpty(prefix) ? null : prefix };
        var giveUpAt = DateTime.UtcNow + (waitFor ?? TimeSpan.FromMinutes(15));
        var delay = TimeSpan.FromSeconds(1);
        while (true)
        {
            Page<BlobItem> page;
            try
            {
                await using var pages = container.Client.GetBlobsAsync(options, cancellationToken).AsPages(continuation, pageSize).GetAsyncEnumerator(cancellationToken);
                if (!await pages.MoveNextAsync()) yield break;
                page = pages.Current;
            }
            catch (Exception e) when (e is not OperationCanceledException && StorageErrors.IsOutage(e) && DateTime.UtcNow < giveUpAt)
            {
                waiting?.Invoke(e, delay);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromSeconds(Math.Min(30, delay.TotalSeconds * 2));
                continue;
            }
            delay = TimeSpan.FromSeconds(1);
            var batch = new List<(string, BlobSource?, string?)>(page.Values.Count);
            long other = 0;
            foreach (var item in page.Values)
            {
                if (!extensions.Contains(Path.GetExtension(item.Name))) { other++; continue; }
                batch.Add(NameProblem(item.Name) is { } problem ? (item.Name, null, problem)
                    : item.Properties.BlobType is { } type && type != BlobType.Block ? (item.Name, null, $"a {type} blob, not a block blob (a video file is a block blob)")
                    : (item.Name, Source(container, item.Name, item.Properties), null));
            }
            if (other > 0) skipped?.Invoke(other);
            yield return batch;
            if (string.IsNullOrEmpty(page.ContinuationToken)) yield break;
            continuation = page.ContinuationToken;
        }
    }

    /// <summary>
    /// One blob a manifest names: its source, or why it cannot be one (no such blob, a bad name). Storage-wide refusals
    /// (403, a missing container) are thrown: every other blob would meet them too.
    /// </summary>
    public static async Task<(BlobSource? Source, string? Problem)> ReadAsync(SourceContainer container, string name, CancellationToken cancellationToken = default)
    {
        if (NameProblem(name) is { } problem) return (null, problem);
        try
        {
            var properties = (await container.Client.GetBlobClient(name).GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            return properties.BlobType == BlobType.Block ? (Source(container, name, properties), null)
                : (null, $"'{name}' is a {properties.BlobType} blob, not a block blob (a video file is a block blob)");
        }
        catch (RequestFailedException e) when (e.Status == 404 && e.ErrorCode is not "ContainerNotFound")
        {
            return (null, $"no blob '{name}' in {container}");
        }
    }

    private static void CheckContainerName(string container)
    {
        if (!BlobLayout.IsValidContainerName(container))
            throw new ArgumentException($"container '{container}': not a valid container name (3-63 lowercase letters, digits and single hyphens)");
    }

    /// <summary>A URL with its signature hidden, for messages.</summary>
    public static string Redact(string url)
    {
        var q = url.IndexOf('?');
        return q < 0 ? url : url[..q] + "?<sas>";
    }
}
