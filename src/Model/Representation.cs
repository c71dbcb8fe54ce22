using static TorchSharp.torch;

namespace LvMae.Model;

/// <summary>A whole video through the frozen encoder (no masking).</summary>
/// <param name="Cls">[W]: the [CLS] output (length-weighted mean over windows for long videos).</param>
/// <param name="Tokens">[n, W] row-major: the encoder output of every segment, in order.</param>
public sealed record EncodedVideo(float[] Cls, float[] Tokens, int Segments, int Width, int Windows)
{
    /// <summary>[W]: mean of the segment outputs (global average pool, [CLS] excluded as in MAE).</summary>
    public float[] Mean()
    {
        var mean = new float[Width];
        for (var j = 0; j < Segments; j++)
            for (var k = 0; k < Width; k++) mean[k] += Tokens[j * Width + k];
        for (var k = 0; k < Width; k++) mean[k] /= Segments;
        return mean;
    }
}

/// <summary>
/// The product's output: one long-video representation per video ([CLS] and mean-pooled).
/// Videos longer than the model's max tokens are cut into the fewest consecutive windows of at
/// most max tokens, of near-equal length (no stub tail window); each window is encoded on its own
/// (positions restart, as in training, where duration sampling also starts windows anywhere); the
/// [CLS] is the window-length-weighted mean of the windows' [CLS] outputs, the token outputs are
/// concatenated, so the mean-pool is the mean over every segment of the video.
/// </summary>
public static class Representation
{
    /// <summary>Window boundaries (start, length) for a video of <paramref name="segments"/> segments.</summary>
    public static IReadOnlyList<(int Start, int Length)> Windows(int segments, int maxTokens)
    {
        if (segments < 1) throw new ArgumentOutOfRangeException(nameof(segments));
        var count = (segments + maxTokens - 1) / maxTokens;
        var result = new List<(int, int)>(count);
        for (int w = 0, start = 0; w < count; w++)
        {
            var end = (int)((long)segments * (w + 1) / count);
            result.Add((start, end - start));
            start = end;
        }
        return result;
    }

    public static EncodedVideo Encode(LvMaeModel model, float[] video, int dim) => EncodeMany(model, [video], dim)[0];

    /// <summary>Encodes videos ([n_i, dim] row-major raw embeddings), batching windows across videos.</summary>
    public static IReadOnlyList<EncodedVideo> EncodeMany(LvMaeModel model, IReadOnlyList<float[]> videos, int dim, int batchSize = 16)
    {
        if (dim != model.Config.EmbeddingDim) throw new ArgumentException($"embeddings are {dim}-d, the model expects {model.Config.EmbeddingDim}");
        var width = model.Config.Width;
        var device = model.parameters().First().device;
        var jobs = new List<(int Video, int Start, int Length)>();
        for (var v = 0; v < videos.Count; v++)
            foreach (var (start, length) in Windows(videos[v].Length / dim, model.Config.MaxTokens)) jobs.Add((v, start, length));

        var cls = videos.Select(_ => new float[width]).ToArray();
        var tokens = videos.Select(v => new float[v.Length / dim * width]).ToArray();
        var windows = new int[videos.Count];
        var wasTraining = model.training;
        model.eval();
        try
        {
            foreach (var chunk in jobs.Chunk(batchSize))
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var n = chunk.Max(j => j.Length);
                var data = new float[chunk.Length * n * dim];
                for (var i = 0; i < chunk.Length; i++)
                    Array.Copy(videos[chunk[i].Video], chunk[i].Start * dim, data, i * n * dim, chunk[i].Length * dim);
                var lengths = chunk.Select(j => j.Length).ToArray();
                var latent = TorchGc.Guard(() => model.EncodeAll(tensor(data, new long[] { chunk.Length, n, dim }, device: device), lengths)
                    .to(CPU).contiguous().data<float>().ToArray());   // [B, 1 + n, W]; no finalizer inside libtorch (TorchGc)
                for (var i = 0; i < chunk.Length; i++)
                {
                    var (v, start, length) = chunk[i];
                    var row = i * (1 + n) * width;
                    var total = videos[v].Length / dim;
                    for (var k = 0; k < width; k++) cls[v][k] += latent[row + k] * length / total;
                    Array.Copy(latent, row + width, tokens[v], start * width, length * width);
                    windows[v]++;
                }
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return videos.Select((video, v) => new EncodedVideo(cls[v], tokens[v], video.Length / dim, width, windows[v])).ToList();
    }
}
