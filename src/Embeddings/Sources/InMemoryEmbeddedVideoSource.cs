using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>A thread-safe set of descriptors; videos may be added while a feed runs (seen from the next epoch).</summary>
public sealed class InMemoryEmbeddedVideoSource : IEmbeddedVideoSource
{
    private readonly ConcurrentDictionary<(string VideoId, string Encoder), EmbeddedVideoDescriptor> _videos = new();

    public InMemoryEmbeddedVideoSource(IEnumerable<EmbeddedVideoDescriptor>? videos = null)
    {
        foreach (var video in videos ?? []) Add(video);
    }

    public int Count => _videos.Count;

    public void Add(EmbeddedVideoDescriptor video) =>
        _videos[(video.VideoId, BlobLayout.EncoderFileName(video.Encoder))] = video;

    public bool Remove(string videoId, string encoder) =>
        _videos.TryRemove((videoId, BlobLayout.EncoderFileName(encoder)), out _);

    public async IAsyncEnumerable<EmbeddedVideoDescriptor> ListAsync(
        string encoder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var wanted = BlobLayout.EncoderFileName(encoder);
        foreach (var ((_, enc), video) in _videos)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (enc == wanted) yield return video;
        }
        await Task.CompletedTask;
    }
}
