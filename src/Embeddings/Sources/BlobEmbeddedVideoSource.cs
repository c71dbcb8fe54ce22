using System.Globalization;
using System.Runtime.CompilerServices;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>
/// Lists <c>videos/&lt;id&gt;/embeddings/&lt;encoder&gt;.npy</c> blobs of a container: a corpus without an index.
/// Shape comes from the blob's metadata ("segments", "dimension") when the writer put it there,
/// otherwise it stays 0 and the loader reads it from the .npy header.
/// </summary>
public sealed class BlobEmbeddedVideoSource(BlobContainerClient container) : IEmbeddedVideoSource
{
    public const string SegmentsMetadataKey = "segments";
    public const string DimensionMetadataKey = "dimension";

    public async IAsyncEnumerable<EmbeddedVideoDescriptor> ListAsync(
        string encoder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var suffix = $"/embeddings/{BlobLayout.EncoderFileName(encoder)}.npy";
        var options = new GetBlobsOptions { Prefix = "videos/", Traits = BlobTraits.Metadata };
        await foreach (var blob in container.GetBlobsAsync(options, cancellationToken))
        {
            if (!blob.Name.EndsWith(suffix, StringComparison.Ordinal)) continue;
            // videos/<id>/embeddings/<encoder>.npy: exactly four parts, with a valid id.
            var parts = blob.Name.Split('/');
            if (parts.Length != 4 || !BlobLayout.IsValidId(parts[1])) continue;
            yield return new EmbeddedVideoDescriptor(parts[1], encoder,
                MetadataInt(blob.Metadata, SegmentsMetadataKey), MetadataInt(blob.Metadata, DimensionMetadataKey));
        }
    }

    private static int MetadataInt(IDictionary<string, string>? metadata, string key) =>
        metadata is not null && metadata.TryGetValue(key, out var text) &&
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0;
}
