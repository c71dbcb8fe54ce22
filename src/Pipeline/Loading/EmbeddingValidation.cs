using LvMae.Formats;

namespace LvMae.Pipeline;

/// <summary>Turns a parsed .npy into <see cref="LoadedEmbeddings"/>, rejecting anything a trainer cannot use.</summary>
public static class EmbeddingValidation
{
    /// <param name="where">Where the array came from (a blob name), for the error message.</param>
    public static LoadedEmbeddings ToEmbeddings(EmbeddedVideoDescriptor video, NpyArray array, string where)
    {
        EmbeddingLoadException Fail(string problem) => new(video.VideoId, $"{where}: {problem}");

        if (!array.IsFloatingPoint) throw Fail($"dtype '{array.DType}' is not float16/float32/float64");
        if (array.Shape.Length != 2) throw Fail($"shape [{string.Join(", ", array.Shape)}] is not [segments, dimension]");
        var (segments, dimension) = (array.Shape[0], array.Shape[1]);
        if (segments < 1 || dimension < 1) throw Fail($"shape [{segments}, {dimension}] is empty");
        if (video.SegmentCount > 0 && segments != video.SegmentCount) throw Fail($"{segments} segments where the index says {video.SegmentCount}");
        if (video.Dimension > 0 && dimension != video.Dimension) throw Fail($"dimension {dimension} where the index says {video.Dimension}");

        var values = array.ToFloats();
        // A NaN or infinity would poison every gradient step of the batch it lands in.
        var bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0) throw Fail($"non-finite value at segment {bad / dimension}");
        return new LoadedEmbeddings(video.VideoId, values, (int)segments, (int)dimension);
    }
}
