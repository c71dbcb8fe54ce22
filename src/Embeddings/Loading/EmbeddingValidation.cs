using LvMae.Formats;

namespace LvMae.Pipeline;

/// <summary>Checks on an embedding file, whole or in part, rejecting anything a trainer cannot use.</summary>
public static class EmbeddingValidation
{
    /// <summary>A whole parsed .npy as <see cref="LoadedEmbeddings"/>.</summary>
    /// <param name="where">Where the array came from (a blob name), for the error message.</param>
    public static LoadedEmbeddings ToEmbeddings(EmbeddedVideoDescriptor video, NpyArray array, string where)
    {
        var (segments, dimension) = CheckShape(video, array.DType, array.Shape, where);
        var values = ToFiniteFloats(video, array, firstSegment: 0, where);
        return new LoadedEmbeddings(video.VideoId, values, segments, dimension);
    }

    /// <summary>
    /// The header alone: float16/32/64, 2-D [segments, dimension], non-empty, and the shape the index
    /// (<paramref name="video"/>) recorded, where it recorded one. Returns (segments, dimension).
    /// </summary>
    public static (int Segments, int Dimension) CheckShape(EmbeddedVideoDescriptor video, string dtype, long[] shape, string where)
    {
        EmbeddingLoadException Fail(string problem) => new(video.VideoId, $"{where}: {problem}");

        if (!NpyArray.IsFloatingPointDType(dtype)) throw Fail($"dtype '{dtype}' is not float16/float32/float64");
        if (shape.Length != 2) throw Fail($"shape [{string.Join(", ", shape)}] is not [segments, dimension]");
        var (segments, dimension) = (shape[0], shape[1]);
        if (segments < 1 || dimension < 1) throw Fail($"shape [{segments}, {dimension}] is empty");
        if (segments > int.MaxValue || dimension > int.MaxValue) throw Fail($"shape [{segments}, {dimension}] is too large");
        if (video.SegmentCount > 0 && segments != video.SegmentCount) throw Fail($"{segments} segments where the index says {video.SegmentCount}");
        if (video.Dimension > 0 && dimension != video.Dimension) throw Fail($"dimension {dimension} where the index says {video.Dimension}");
        return ((int)segments, (int)dimension);
    }

    /// <summary>
    /// Rows of an array (<paramref name="rows"/> is [count, dimension], starting at segment <paramref name="firstSegment"/>)
    /// as float32: a NaN or infinity would poison every gradient step of the batch it lands in.
    /// </summary>
    public static float[] ToFiniteFloats(EmbeddedVideoDescriptor video, NpyArray rows, int firstSegment, string where)
    {
        var values = rows.ToFloats();
        var bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0) throw new EmbeddingLoadException(video.VideoId, $"{where}: non-finite value at segment {firstSegment + bad / (int)rows.Shape[1]}");
        return values;
    }

    /// <summary>A caller's row range must lie inside the video (a programming error otherwise, not bad input).</summary>
    public static void CheckRowRange(string videoId, int first, int count, int segments)
    {
        if (first < 0 || count < 1 || first + count > segments)
            throw new ArgumentOutOfRangeException(nameof(first), $"video '{videoId}': rows [{first}, {first + count}) outside its {segments} segments");
    }
}
