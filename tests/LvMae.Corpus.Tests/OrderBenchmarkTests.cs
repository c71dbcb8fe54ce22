using LvMae.Corpus;
using LvMae.Formats;

namespace LvMae.Corpus.Tests;

/// <summary>The order-only embedding benchmark: balanced classes that differ in step order only, a held-out split, files.</summary>
public sealed class OrderBenchmarkTests
{
    private static readonly OrderBenchmarkSpec Small = new() { Videos = 60, Dimension = 16 };

    [Fact]
    public void Classes_are_balanced_split_per_class_and_every_video_shows_every_step_in_its_class_order()
    {
        var videos = OrderBenchmark.Generate(Small);
        Assert.Equal(60, videos.Count);
        Assert.All(videos.GroupBy(v => v.Activity), g => Assert.Equal(6, g.Count()));
        Assert.All(videos.GroupBy(v => v.Activity), g => Assert.Equal((4, 2), (g.Count(v => v.Split == "train"), g.Count(v => v.Split == "test")))); // round(6 x 0.25)
        foreach (var v in videos)
        {
            Assert.Equal(v.Segments * Small.Dimension, v.Embeddings.Length);
            Assert.InRange(v.Segments, Small.Steps * Small.MinStepSegments, Small.MaxSegments);
            Assert.Equal(Enumerable.Range(0, Small.Steps), v.SegmentSteps.Where(s => s < Small.Steps).Distinct().Order()); // every core step
        }
    }

    [Fact]
    public void No_directed_transition_is_shared_by_two_classes_so_one_transition_names_the_class()
    {
        var owners = new Dictionary<(int, int), HashSet<string>>();
        foreach (var v in OrderBenchmark.Generate(Small))
        {
            var core = v.SegmentSteps.Where(s => s < Small.Steps).ToList();
            for (var i = 1; i < core.Count; i++)
                if (core[i] != core[i - 1])
                {
                    if (!owners.TryGetValue((core[i - 1], core[i]), out var set)) owners[(core[i - 1], core[i])] = set = [];
                    set.Add(v.Activity);
                }
        }
        Assert.All(owners.Values, set => Assert.Single(set));
        Assert.Equal(Small.Classes, owners.Values.SelectMany(s => s).Distinct().Count());
    }

    [Fact]
    public void The_same_spec_writes_the_same_files_and_a_labels_csv_with_a_split_column()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-order-").FullName;
        try
        {
            var written = OrderBenchmark.Write(dir, Small);
            var again = OrderBenchmark.Generate(Small);
            Assert.Equal(written.Select(v => v.Embeddings), again.Select(v => v.Embeddings));
            var lines = File.ReadAllLines(Path.Combine(dir, OrderBenchmark.LabelsFileName));
            Assert.Equal("videoId,activity,split", lines[0]);
            Assert.Equal(61, lines.Length);
            var first = NpyArray.Read(Path.Combine(dir, written[0].Id + ".npy"));
            Assert.Equal(new long[] { written[0].Segments, Small.Dimension }, first.Shape);
            Assert.Equal(written[0].Embeddings, first.ToFloats());
            Assert.NotEqual(written[0].Embeddings, OrderBenchmark.Generate(Small with { Seed = 19 })[0].Embeddings);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_spec_whose_classes_cannot_be_disjoint_cycles_is_refused()
    {
        Assert.Contains("prime", Assert.Throws<ArgumentException>(() => OrderBenchmark.Generate(Small with { Steps = 10 })).Message);
        Assert.Contains("prime", Assert.Throws<ArgumentException>(() => OrderBenchmark.Generate(Small with { Classes = 11 })).Message);
    }
}
