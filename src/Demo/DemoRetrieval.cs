using LvMae.Model;
using LvMae.Model.Masking;
using LvMae.Model.Retrieval;
using LvMae.Pipeline;

namespace LvMae.Demo;

/// <summary>One corpus video with its segment embeddings (as loaded from blob storage) and the true step of each segment.</summary>
/// <param name="Id">The corpus id (syn0001 ...).</param>
/// <param name="VideoId">The video's id in the system (its content hash).</param>
/// <param name="Role">Its split by the held-out rule (<see cref="RunLabels.SplitOf"/>), as the training runs see it.</param>
/// <param name="Embeddings">[Segments, dim] row-major, raw encoder outputs.</param>
public sealed record DemoVideo(string Id, string VideoId, SplitRole Role, float[] Embeddings, int Segments, IReadOnlyList<string> SegmentSteps);

/// <summary>
/// The demo's interpretability check on a trained run's model: captions are the step names, each embedded as the mean of
/// the L2-normalised embeddings of that step's training segments; every test video is masked with the model's own
/// strategy and reconstructed, and the captions nearest to each masked segment's original and reconstruction are compared
/// with the true step (next to model-free copy and mean-embedding baselines).
/// </summary>
public static class DemoRetrieval
{
    /// <summary>
    /// Caption index over the step names: each caption's embedding is the mean of the L2-normalised embeddings of that
    /// step's segments in the training videos. Steps are ordered by name.
    /// </summary>
    public static CaptionIndex Captions(IReadOnlyList<DemoVideo> train, int dim) => StepMeans(train, dim, mean: null);

    /// <summary>
    /// The caption index in centred coordinates: each step's caption embedding minus <paramref name="mean"/> (the mean of the
    /// training split's L2-normalised segments). Cosine then compares what tells steps apart, not the direction every
    /// segment shares (ReLU features: cosine about 0.7 to the mean).
    /// </summary>
    public static CaptionIndex CentredCaptions(IReadOnlyList<DemoVideo> train, int dim, float[] mean) => StepMeans(train, dim, mean);

    /// <summary>Per step (ordered by name), the mean of its training segments' L2-normalised embeddings, minus <paramref name="mean"/> if given.</summary>
    private static CaptionIndex StepMeans(IReadOnlyList<DemoVideo> train, int dim, float[]? mean)
    {
        var sums = new SortedDictionary<string, (double[] Sum, int Count)>(StringComparer.Ordinal);
        foreach (var v in train)
            for (var j = 0; j < v.Segments; j++)
            {
                var step = v.SegmentSteps[j];
                if (!sums.TryGetValue(step, out var acc)) acc = (new double[dim], 0);
                var row = v.Embeddings.AsSpan(j * dim, dim);
                var scale = VectorMath.InverseNorm(row);
                for (var k = 0; k < dim; k++) acc.Sum[k] += row[k] * scale;
                sums[step] = (acc.Sum, acc.Count + 1);
            }
        var names = sums.Keys.ToList();
        var data = new float[names.Count * dim];
        for (var c = 0; c < names.Count; c++)
        {
            var (sum, count) = sums[names[c]];
            for (var k = 0; k < dim; k++) data[c * dim + k] = (float)(sum[k] / count) - (mean?[k] ?? 0);
        }
        return new CaptionIndex(data, names, dim);
    }

    /// <summary>The caption of <paramref name="centred"/> (<see cref="CentredCaptions"/>) nearest to the L2-normalised query minus
    /// <paramref name="mean"/>.</summary>
    public static string NearestCentred(CaptionIndex centred, ReadOnlySpan<float> query, ReadOnlySpan<float> mean)
    {
        var scale = VectorMath.InverseNorm(query);
        var q = new float[query.Length];
        for (var k = 0; k < q.Length; k++) q[k] = (float)(query[k] * scale) - mean[k];
        return centred.Search(q, 1)[0].Caption;
    }

    /// <summary>Masks and reconstructs every test video; top-1 retrieval hit rates and a few listed examples.</summary>
    public static RetrievalSummary Retrieve(LvMaeModel model, string masking, IReadOnlyList<DemoVideo> test, CaptionIndex captions, int dim, int exampleVideos, int seed, double? ratio = null, IReadOnlyList<DemoVideo>? train = null)
    {
        var strategy = MaskingStrategies.Create(masking, ratio);
        var rng = new Random(seed);
        int masked = 0, recHits = 0, origHits = 0, copyHits = 0;
        int centredRecHits = 0, centredOrigHits = 0, centredCopyHits = 0, recMisses = 0, recMissesCentral = 0, copyMisses = 0, copyMissesCentral = 0;
        double recCos = 0, copyCos = 0, meanCos = 0;
        var meanEmbedding = MeanEmbedding(train ?? test, dim);
        var centred = CentredCaptions(train ?? test, dim, meanEmbedding);
        // The caption a reconstruction shrunk towards the corpus mean drifts to: the one closest to the mean.
        var central = captions.Search(meanEmbedding, 1)[0].Caption;
        string CentredTop(ReadOnlySpan<float> query) => NearestCentred(centred, query, meanEmbedding);
        var examples = new List<RetrievalExample>();
        for (var i = 0; i < test.Count; i++)
        {
            var v = test[i];
            var results = ReconstructionRetrieval.Explain(model, v.Embeddings, dim, captions, strategy, rng, k: 3);
            var maskedPositions = results.Select(r => r.Position).ToHashSet();
            foreach (var r in results)
            {
                var truth = v.SegmentSteps[r.Position];
                masked++;
                var original = v.Embeddings.AsSpan(r.Position * dim, dim);
                if (r.Reconstructed[0].Caption == truth) recHits++;
                else { recMisses++; if (r.Reconstructed[0].Caption == central) recMissesCentral++; }
                if (r.Original[0].Caption == truth) origHits++;
                if (CentredTop(original) == truth) centredOrigHits++;
                if (CentredTop(r.Reconstruction!) == truth) centredRecHits++;
                recCos += r.ReconstructionCosine;
                meanCos += VectorMath.Cosine(original, meanEmbedding);
                if (NearestVisible(r.Position, v.Segments, maskedPositions) is { } n)
                {
                    var neighbour = v.Embeddings.AsSpan(n * dim, dim);
                    copyCos += VectorMath.Cosine(original, neighbour);
                    var copyTop = captions.Search(neighbour, 1)[0].Caption;
                    if (copyTop == truth) copyHits++;
                    else { copyMisses++; if (copyTop == central) copyMissesCentral++; }
                    if (CentredTop(neighbour) == truth) centredCopyHits++;
                }
                if (i < exampleVideos)
                    examples.Add(new RetrievalExample(v.Id, r.Position, truth, r.Original.Select(m => m.Caption).ToList(),
                        r.Reconstructed.Select(m => m.Caption).ToList(), r.ReconstructionCosine));
            }
        }
        double Share(double x) => masked == 0 ? double.NaN : x / masked;
        static double Of(int part, int whole) => whole == 0 ? double.NaN : (double)part / whole;
        return new RetrievalSummary(masking, test.Count, masked, Share(recHits), Share(origHits),
            1.0 / captions.Captions.Count, captions.Captions.Count, examples)
        {
            NeighbourCopyHit = Share(copyHits),
            ReconstructionCosine = Share(recCos),
            NeighbourCopyCosine = Share(copyCos),
            MeanEmbeddingCosine = Share(meanCos),
            Centred = new CentredRetrieval(Share(centredOrigHits), Share(centredRecHits), Share(centredCopyHits)),
            Misses = new RetrievalMisses(central, Of(recMissesCentral, recMisses), Of(copyMissesCentral, copyMisses)),
        };
    }

    /// <summary>The visible position nearest to <paramref name="position"/> (the earlier one on a tie), or null when none is visible.</summary>
    public static int? NearestVisible(int position, int length, IReadOnlySet<int> masked)
    {
        for (var d = 1; d < length; d++)
        {
            if (position - d >= 0 && !masked.Contains(position - d)) return position - d;
            if (position + d < length && !masked.Contains(position + d)) return position + d;
        }
        return null;
    }

    /// <summary>The mean of the L2-normalised segment embeddings of <paramref name="videos"/>.</summary>
    public static float[] MeanEmbedding(IReadOnlyList<DemoVideo> videos, int dim)
    {
        var sum = new double[dim];
        foreach (var v in videos)
            for (var j = 0; j < v.Segments; j++)
            {
                var row = v.Embeddings.AsSpan(j * dim, dim);
                var scale = VectorMath.InverseNorm(row);
                for (var k = 0; k < dim; k++) sum[k] += row[k] * scale;
            }
        var count = Math.Max(1, videos.Sum(v => v.Segments));
        return sum.Select(x => (float)(x / count)).ToArray();
    }
}
