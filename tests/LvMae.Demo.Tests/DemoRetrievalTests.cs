using LvMae.Demo;
using LvMae.Pipeline;

namespace LvMae.Demo.Tests;

/// <summary>Caption retrieval's arithmetic on a toy corpus (no silo, no torch).</summary>
public sealed class DemoRetrievalTests
{
    // Step "a" segments point along (1, 1, 0), step "b" along (1, 0, 0); b is 3x as frequent, so the mean lies near b.
    private static readonly float[] A = [1, 1, 0];
    private static readonly float[] B = [2, 0, 0];

    private static DemoVideo Video(string id, params string[] steps) =>
        new(id, "v" + id, SplitRole.Train, steps.SelectMany(s => s == "a" ? A : B).ToArray(), steps.Length, steps);

    private static readonly IReadOnlyList<DemoVideo> Train = [Video("t1", "a", "b", "b", "b"), Video("t2", "b", "b", "b", "a")];

    [Fact]
    public void Mean_embedding_is_the_mean_of_the_unit_segments()
    {
        var mean = DemoRetrieval.MeanEmbedding(Train, 3);
        var h = (float)(1 / Math.Sqrt(2));
        Assert.Equal((2 * h + 6) / 8, mean[0], 5);
        Assert.Equal(2 * h / 8, mean[1], 5);
        Assert.Equal(0, mean[2], 5);
    }

    [Fact]
    public void A_query_shrunk_towards_the_mean_retrieves_the_central_caption_uncentred_and_its_own_step_centred()
    {
        var mean = DemoRetrieval.MeanEmbedding(Train, 3);
        var captions = DemoRetrieval.Captions(Train, 3);
        var centred = DemoRetrieval.CentredCaptions(Train, 3, mean);
        var h = (float)(1 / Math.Sqrt(2));
        // What MSE predicts for an "a" segment it is unsure of: 90% the mean, 10% the segment.
        float[] shrunk = [0.9f * mean[0] + 0.1f * h, 0.9f * mean[1] + 0.1f * h, 0];

        Assert.Equal("b", captions.Search(mean, 1)[0].Caption);       // the caption nearest the mean
        Assert.Equal("b", captions.Search(shrunk, 1)[0].Caption);     // uncentred cosine: wrong
        Assert.Equal("a", DemoRetrieval.NearestCentred(centred, shrunk, mean));   // centred: right
        // Originals retrieve their own step either way.
        Assert.Equal("a", DemoRetrieval.NearestCentred(centred, A, mean));
        Assert.Equal("b", DemoRetrieval.NearestCentred(centred, B, mean));
        Assert.Equal("a", captions.Search(A, 1)[0].Caption);
    }
}
