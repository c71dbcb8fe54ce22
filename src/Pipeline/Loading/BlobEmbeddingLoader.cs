using Azure;
using Azure.Storage.Blobs;
using LvMae.Formats;
using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>Reads <c>videos/&lt;id&gt;/embeddings/&lt;encoder&gt;.npy</c> from a container and validates it.</summary>
public sealed class BlobEmbeddingLoader(BlobContainerClient container) : IEmbeddingLoader
{
    public async Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
    {
        var name = BlobLayout.Embeddings(video.VideoId, video.Encoder);
        BinaryData content;
        try
        {
            // Whole blob into memory with async I/O, then parse: NpyArray reads synchronously.
            content = (await container.GetBlobClient(name).DownloadContentAsync(cancellationToken)).Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new EmbeddingLoadException(video.VideoId, $"embedding blob '{name}' not found", e);
        }

        NpyArray array;
        try
        {
            using var stream = content.ToStream();
            array = NpyArray.Read(stream);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or OverflowException)
        {
            throw new EmbeddingLoadException(video.VideoId, $"{name}: corrupt .npy ({e.Message})", e);
        }
        return EmbeddingValidation.ToEmbeddings(video, array, name);
    }
}
