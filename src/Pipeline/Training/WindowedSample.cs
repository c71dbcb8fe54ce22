namespace LvMae.Pipeline;

/// <summary>One training sample: a duration window of one video's embeddings, row-major [Length, d].</summary>
public sealed record WindowedSample(
    long Epoch, string VideoId, float[] Tokens, int Length, int[] SegmentIndices, IReadOnlyDictionary<string, string>? Labels)
{
    /// <summary>
    /// Reads a planned window's rows (only those: a range of the video, or all of a short tiled one) and lays
    /// them out in window order; the full video need not be read or stay alive.
    /// </summary>
    public static async Task<WindowedSample> ReadAsync(long epoch, PlannedWindow planned, IEmbeddingRows rows, CancellationToken cancellationToken = default)
    {
        var window = planned.Window;
        var (first, count) = window.Rows;
        var values = await rows.ReadRowsAsync(first, count, cancellationToken);
        var d = rows.Dimension;
        var tokens = new float[window.Length * d];
        for (var i = 0; i < window.Length; i++)
            values.AsSpan((window.SegmentAt(i) - first) * d, d).CopyTo(tokens.AsSpan(i * d, d));
        return new WindowedSample(epoch, planned.Video.VideoId, tokens, window.Length, window.Indices(), planned.Video.Labels);
    }
}
