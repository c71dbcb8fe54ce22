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

/// <summary>
/// Label columns of a video. Labels of the form "column=value" name their column; plain labels (the ingest CSV's
/// cells after the id) are positional: LabelColumns[i] when the run names them, "label" when a video has exactly one,
/// else "label0", "label1", ... (the video grain de-duplicates labels, so positional cells that repeat are lost: prefer column=value).
/// </summary>
public static class RunLabels
{
    public const string SplitColumn = "split";

    public static IReadOnlyDictionary<string, string> Parse(IReadOnlyList<string> labels, IReadOnlyList<string> columns)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var plain = new List<string>();
        foreach (var label in labels)
        {
            var eq = label.IndexOf('=');
            if (eq > 0) result[label[..eq].Trim()] = label[(eq + 1)..].Trim();
            else plain.Add(label);
        }
        for (var i = 0; i < plain.Count; i++)
        {
            var name = i < columns.Count ? columns[i] : plain.Count == 1 && columns.Count == 0 ? "label" : $"label{i}";
            result.TryAdd(name, plain[i]);
        }
        return result;
    }

    /// <summary>Deterministic held-out membership: the 'split' column when present (test/val/valid = held out), else 1 in 5 by an id hash.</summary>
    public static bool IsTest(string videoId, IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is not null && labels.TryGetValue(SplitColumn, out var split))
            return !string.Equals(split, "train", StringComparison.OrdinalIgnoreCase);
        ulong hash = 14695981039346656037UL;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(videoId)) hash = (hash ^ b) * 1099511628211UL;
        return hash % 5 == 0;
    }
}
