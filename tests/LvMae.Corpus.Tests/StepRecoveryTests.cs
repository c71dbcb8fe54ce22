using LvMae.Media;
using Xunit.Abstractions;

namespace LvMae.Corpus.Tests;

/// <summary>
/// The labels match the videos: the step of each 5 s segment, read back from the builtin encoder's segment
/// embeddings by nearest centroid (centroids from the other videos' segments), agrees with the timeline.
/// </summary>
[Collection(RenderedCorpusCollection.Name)]
public sealed class StepRecoveryTests(RenderedCorpusFixture corpus, ITestOutputHelper output)
{
    [Fact]
    public async Task Segment_steps_recovered_from_builtin_embeddings_match_the_timelines()
    {
        using var encoder = SegmentEncoders.Create("builtin");
        var options = new SegmentationOptions();
        var embedded = new List<(CorpusVideo Video, EmbeddedVideo Embedding, IReadOnlyList<SegmentTruth> Truth)>();
        foreach (var v in corpus.Manifest.Videos)
        {
            var e = await VideoEmbedder.EmbedAsync(Path.Combine(corpus.Directory, v.FileName), encoder, options);
            Assert.True(Math.Abs(e.Info.DurationSeconds - v.DurationSeconds) <= 2.0 / RenderedCorpusFixture.Spec.FrameRate + 1e-6,
                $"{v.VideoId}: probed {e.Info.DurationSeconds} s, timeline {v.DurationSeconds} s");
            Assert.Equal(v.SegmentSteps().Count, e.Segments.Count);
            embedded.Add((v, e, e.Segments.Select(s => v.Truth(s.Index, s.StartSeconds, s.EndSeconds)).ToList()));
        }

        int dim = embedded[0].Embedding.Dimension;
        float[] Row(EmbeddedVideo e, int i) => Normalise(e.Embeddings.AsSpan(i * e.Dimension, e.Dimension));

        int evaluated = 0, correct = 0, ordersRecovered = 0;
        var confusions = new Dictionary<string, int>();
        foreach (var held in embedded)
        {
            // Centroids of each step from the pure segments of the other videos.
            var sums = new Dictionary<string, (double[] Sum, int Count)>();
            foreach (var other in embedded.Where(o => o.Video.VideoId != held.Video.VideoId))
                for (int i = 0; i < other.Truth.Count; i++)
                {
                    if (!other.Truth[i].IsPure) continue;
                    string step = other.Truth[i].Step;
                    var (sum, count) = sums.TryGetValue(step, out var acc) ? acc : (new double[dim], 0);
                    var row = Row(other.Embedding, i);
                    for (int j = 0; j < dim; j++) sum[j] += row[j];
                    sums[step] = (sum, count + 1);
                }
            var centroids = sums.ToDictionary(kv => kv.Key, kv => kv.Value.Sum.Select(x => (float)(x / kv.Value.Count)).ToArray());

            var predicted = new List<string>();
            for (int i = 0; i < held.Truth.Count; i++)
            {
                var row = Row(held.Embedding, i);
                string guess = centroids.MinBy(c => Distance(c.Value, row)).Key;
                predicted.Add(guess);
                var truth = held.Truth[i];
                if (!truth.IsPure || !centroids.ContainsKey(truth.Step)) continue;
                evaluated++;
                if (guess == truth.Step) correct++;
                else confusions[$"{truth.Step}->{guess}"] = confusions.GetValueOrDefault($"{truth.Step}->{guess}") + 1;
            }

            // The step order read from the predictions (runs collapsed) against the timeline's.
            var readOrder = Collapse(predicted);
            var trueOrder = Collapse(held.Truth.Select(t => t.Step));
            if (readOrder.SequenceEqual(trueOrder)) ordersRecovered++;
        }

        double accuracy = (double)correct / evaluated;
        output.WriteLine($"segments: {correct}/{evaluated} = {accuracy:P1}; step orders recovered in {ordersRecovered}/{embedded.Count} videos");
        output.WriteLine("confusions: " + string.Join(", ", confusions.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} x{kv.Value}")));
        Assert.True(evaluated >= 50, $"only {evaluated} segments evaluated");
        Assert.True(accuracy >= 0.9, $"nearest-centroid step accuracy {accuracy:P1} < 90%");
        Assert.True(ordersRecovered >= embedded.Count * 0.7, $"step order recovered in only {ordersRecovered}/{embedded.Count} videos");
    }

    private static List<string> Collapse(IEnumerable<string> steps)
    {
        var result = new List<string>();
        foreach (var s in steps)
            if (result.Count == 0 || result[^1] != s) result.Add(s);
        return result;
    }

    private static float[] Normalise(ReadOnlySpan<float> v)
    {
        double n = 0;
        foreach (var x in v) n += x * x;
        n = Math.Sqrt(n) + 1e-12;
        var r = new float[v.Length];
        for (int i = 0; i < v.Length; i++) r[i] = (float)(v[i] / n);
        return r;
    }

    private static double Distance(float[] a, float[] b)
    {
        double d = 0;
        for (int i = 0; i < a.Length; i++) d += (a[i] - b[i]) * (a[i] - b[i]);
        return d;
    }
}
