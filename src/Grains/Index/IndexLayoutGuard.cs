using System.Text.Json;
using LvMae.Contracts;
using LvMae.Storage;
using Microsoft.Extensions.Logging;

namespace LvMae.Grains.Index;

/// <summary>The stored index layout disagrees with this silo's configuration.</summary>
public sealed class IndexLayoutException(string message) : Exception(message);

/// <summary>
/// At silo start-up, before any grain runs: the first silo of a corpus records the index layout (index/layout.json); every
/// later one must be configured the same, since a video's shard is a function of the shard count. A mismatch stops the silo
/// with the fix in the message instead of silently splitting the index.
/// </summary>
public sealed class IndexLayoutGuard(BlobStore blobs, IndexLayout layout, ILogger<IndexLayoutGuard> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private sealed record Stored(int Shards);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(IndexLayoutGuard), ServiceLifecycleStage.ApplicationServices, CheckAsync);

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        var wanted = JsonSerializer.SerializeToUtf8Bytes(new Stored(layout.Shards));
        try
        {
            await blobs.UploadConditionalAsync(BlobLayout.IndexLayout, wanted, ifMatch: null, contentType: "application/json", cancellationToken: cancellationToken);
            logger.LogInformation("corpus index created with {Shards} shards", layout.Shards);
            return;
        }
        catch (BlobConflictException) { /* exists: compare */ }
        var stored = await blobs.TryDownloadAsync(BlobLayout.IndexLayout, cancellationToken);
        var shards = stored is null ? layout.Shards : JsonSerializer.Deserialize<Stored>(stored)?.Shards ?? 0;
        if (shards != layout.Shards)
            throw new IndexLayoutException(
                $"the corpus index in container '{blobs.Container.Name}' has {shards} shards but this silo is configured with {layout.Shards} " +
                $"(LvMae:Index:Shards): set LVMAE__Index__Shards={shards} on every silo");
    }
}
