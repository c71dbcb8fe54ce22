using LvMae.Model.Data;
using LvMae.Model.Masking;
using static TorchSharp.torch;

namespace LvMae.Model.Retrieval;

/// <summary>One masked segment: captions retrieved for its original and its reconstructed embedding.</summary>
public sealed record SegmentRetrieval(int Position, IReadOnlyList<CaptionMatch> Original, IReadOnlyList<CaptionMatch> Reconstructed, double ReconstructionCosine)
{
    /// <summary>The reconstructed embedding itself (unit length, the encoder's space), for retrieval in other coordinates.</summary>
    public float[]? Reconstruction { get; init; }
}

/// <summary>
/// The paper's interpretability check (Sec. 3.4): mask a video, reconstruct it, and for each masked
/// segment list the top-k captions of the original embedding and of the reconstruction (cosine).
/// Videos longer than max tokens are handled window by window (<see cref="Representation.Windows"/>).
/// </summary>
public static class ReconstructionRetrieval
{
    /// <summary>
    /// The share of a video masked for retrieval: the paper's 40% (Sec. 4.4), whatever ratio the model trained with, so the
    /// retrieval task stays the same task when a training setting changes and runs trained differently compare.
    /// </summary>
    public const double EvaluationMaskRatio = 0.4;

    public static IReadOnlyList<SegmentRetrieval> Explain(LvMaeModel model, float[] video, int dim, CaptionIndex captions, IMaskingStrategy masking, Random rng, int k = 5)
    {
        if (captions.Dim != dim) throw new ArgumentException($"captions are {captions.Dim}-d, segments {dim}-d");
        var device = model.parameters().First().device;
        var results = new List<SegmentRetrieval>();
        var wasTraining = model.training;
        model.eval();
        try
        {
            foreach (var (start, length) in Representation.Windows(video.Length / dim, model.Config.MaxTokens))
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var window = video.AsSpan(start * dim, length * dim).ToArray();
                var batch = new EmbeddingBatch(window, [length], length, dim);
                var mask = masking.SampleBatch(batch, rng);
                var output = model.Forward(batch.ToTensor(device), TokenLayout.Build(length, [length], mask));
                // [1, n, d] unit embeddings: the model predicts in its own (standardised) input space.
                var predicted = model.ToEmbeddingSpace(output.FullPredictions()).to(CPU).contiguous().data<float>().ToArray();
                for (var j = 0; j < length; j++)
                {
                    if (!mask[j]) continue;
                    var original = window.AsSpan(j * dim, dim);
                    var reconstructed = predicted.AsSpan(j * dim, dim);
                    results.Add(new SegmentRetrieval(start + j, captions.Search(original, k), captions.Search(reconstructed, k), VectorMath.Cosine(original, reconstructed))
                        { Reconstruction = reconstructed.ToArray() });
                }
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return results;
    }
}
