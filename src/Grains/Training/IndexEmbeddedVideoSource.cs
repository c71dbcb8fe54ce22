using System.Runtime.CompilerServices;
using LvMae.Contracts;
using LvMae.Pipeline;
using LvMae.Storage;

namespace LvMae.Grains.Training;

/// <summary>
/// The corpus index as a training source: every video Embedded with the encoder, paged over all shards, listed afresh
/// per epoch (so videos embedded while a run trains join its next epoch). Labels are parsed into columns (<see cref="RunLabels"/>).
/// </summary>
public sealed class IndexEmbeddedVideoSource(IGrainFactory grains, IReadOnlyList<string>? labelColumns = null) : IEmbeddedVideoSource
{
    public async IAsyncEnumerable<EmbeddedVideoDescriptor> ListAsync(string encoder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var wanted = BlobLayout.EncoderFileName(encoder);
        string? after = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var page = await grains.QueryAsync(new VideoQuery { Stage = VideoStage.Embedded, After = after, Limit = 1000 });
            if (page.Items.Count == 0) yield break;
            foreach (var e in page.Items)
            {
                var match = e.EmbeddedEncoders.FirstOrDefault(x => BlobLayout.EncoderFileName(x) == wanted);
                if (match is null) continue;
                yield return new EmbeddedVideoDescriptor(e.Id, match, e.SegmentCount, 0,
                    e.Labels.Count == 0 ? null : RunLabels.Parse(e.Labels, labelColumns ?? []));
            }
            after = page.Items[^1].Id;
        }
    }
}
