using System.Runtime.CompilerServices;
using LvMae.Contracts;
using LvMae.Pipeline;
using LvMae.Storage;

namespace LvMae.Runs;

/// <summary>
/// The corpus index as a training source: every video Embedded with the encoder, paged over all shards, listed afresh
/// per epoch (so videos embedded while a run trains join its next epoch). Labels are parsed into columns (<see cref="RunLabels"/>).
/// </summary>
public sealed class IndexEmbeddedVideoSource(IGrainFactory grains, IReadOnlyList<string>? labelColumns = null) : IEmbeddedVideoSource
{
    public async IAsyncEnumerable<EmbeddedVideoDescriptor> ListAsync(string encoder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var wanted = BlobLayout.EncoderFileName(encoder);
        // One streamed pass over the index's maintained set of videos with this encoder: O(corpus) per epoch, one page in memory.
        await foreach (var e in grains.ListAsync(new VideoQuery { Stage = VideoStage.Embedded, Encoder = encoder, Limit = 1000 }, cancellationToken))
        {
            var match = e.EmbeddedEncoders.FirstOrDefault(x => BlobLayout.EncoderFileName(x) == wanted);
            if (match is null) continue;
            yield return new EmbeddedVideoDescriptor(e.Id, match, e.SegmentCount, 0,
                e.Labels.Count == 0 ? null : RunLabels.Parse(e.Labels, labelColumns ?? []));
        }
    }
}
