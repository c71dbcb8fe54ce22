using System.Collections.Concurrent;
using Azure.Storage.Blobs;
using LvMae.Contracts;
using LvMae.Media;

namespace LvMae.Grains;

/// <summary>
/// Where a silo reads the sources of videos registered in place: a container of the cluster's own account, or another
/// account's container through the credentials its source store holds (looked up by <paramref name="lookup"/>, kept for a
/// minute, so a rotated SAS is used within a minute, and at once after storage denied the old one: <see cref="Forget"/>).
/// </summary>
public sealed class SourceBlobs(string clusterConnectionString, BlobClientOptions? options, Func<string, Task<SourceStoreAccess?>> lookup)
{
    private static readonly TimeSpan KeepFor = TimeSpan.FromMinutes(1);
    private readonly BlobServiceClient _cluster = new(clusterConnectionString, options);
    private readonly ConcurrentDictionary<string, (BlobContainerClient Client, DateTime Until)> _stores = new(StringComparer.Ordinal);

    /// <summary>The blob of <paramref name="source"/>; <see cref="MediaException"/> (SourceDenied) when its store has no credentials.</summary>
    public async Task<BlobClient> BlobAsync(BlobSource source)
    {
        if (source.Store.Length == 0) return _cluster.GetBlobContainerClient(source.Container).GetBlobClient(source.Blob);
        if (_stores.TryGetValue(source.Store, out var kept) && kept.Until > DateTime.UtcNow) return kept.Client.GetBlobClient(source.Blob);
        var access = await lookup(source.Store)
            ?? throw new MediaException(source.ToString(), MediaErrorKind.SourceDenied,
                $"no credentials are registered for source store {source.Store} (register the container again with lvmae ingest --source-url or --source-connection-string)");
        var client = Open(access, options);
        _stores[source.Store] = (client, DateTime.UtcNow + KeepFor);
        return client.GetBlobClient(source.Blob);
    }

    /// <summary>Drops a store's client (storage denied its credentials: look them up again next time).</summary>
    public void Forget(string store) => _stores.TryRemove(store, out _);

    /// <summary>The container client a store's credentials give.</summary>
    public static BlobContainerClient Open(SourceStoreAccess access, BlobClientOptions? options = null) =>
        access.ConnectionString is { } cs
            ? new BlobContainerClient(cs, new Azure.Storage.Blobs.BlobUriBuilder(new Uri(access.ContainerUrl)).BlobContainerName, options)
            : new BlobContainerClient(new Uri($"{access.ContainerUrl}?{access.SasToken}"), options);
}
