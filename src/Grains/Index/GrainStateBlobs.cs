using System.Text.Json;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains.Index;

/// <summary>The data container of a silo's storage account, seen as the grain-state container (audits read states directly).</summary>
public sealed class GrainStateBlobs(BlobStore store)
{
    public BlobStore Store { get; } = store;

    /// <summary>Every video grain's state blob name starts with this (Orleans' provider: "&lt;state name&gt;-&lt;grain type&gt;/&lt;key&gt;.json").</summary>
    public static readonly string VideoPrefix = BlobLayout.GrainStateBlob("state", "lvmae.video", "")[..^".json".Length];

    /// <summary>A video's persisted state as storage holds it now; null when there is none (no blob, or an empty one).</summary>
    public async Task<VideoState?> TryReadVideoAsync(string id)
    {
        var bytes = await Store.TryDownloadAsync(VideoPrefix + id + ".json");
        return bytes is null || bytes.Length == 0 ? null : JsonSerializer.Deserialize<VideoState>(bytes, GrainStateJson.Options);
    }
}
