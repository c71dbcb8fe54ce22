using System.Runtime.CompilerServices;

namespace LvMae.Pipeline;

/// <summary>The videos of a source that pre-training may see: those whose split is Train (<see cref="RunLabels.SplitOf"/>).</summary>
public sealed class TrainSplitSource(IEmbeddedVideoSource inner) : IEmbeddedVideoSource
{
    public async IAsyncEnumerable<EmbeddedVideoDescriptor> ListAsync(string encoder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var video in inner.ListAsync(encoder, cancellationToken))
            if (!RunLabels.IsHeldOut(video.VideoId, video.Labels)) yield return video;
    }
}
