using LvMae.Corpus;
using LvMae.Formats;

namespace LvMae.Corpus.Tests;

/// <summary>The recipe benchmarks of the learning bench: splits per class, unlabelled pretrain videos, order-only labels,
/// and the alternating rendering in which no single segment names its step.</summary>
public sealed class RecipeBenchmarkTests
{
    private static readonly RecipeBenchmarkSpec Small = new() { Dimension = 16, PretrainPerClass = 3, TrainPerClass = 2, ValPerClass = 1, TestPerClass = 1 };

    [Fact]
    public void Every_class_has_its_splits_and_pretrain_videos_carry_no_labels()
    {
        var videos = RecipeBenchmark.Generate(Small);
        Assert.Equal(70, videos.Count);
        Assert.Equal(Small.Videos, videos.Count);
        Assert.All(videos.Where(v => v.Split == "pretrain"), v => Assert.Equal(("", ""), (v.Recipe, v.OrderLabel)));
        var labelled = videos.Where(v => v.Split != "pretrain").ToList();
        Assert.All(labelled.GroupBy(v => v.Recipe), g => Assert.Equal((2, 1, 1), (g.Count(v => v.Split == "train"), g.Count(v => v.Split == "val"), g.Count(v => v.Split == "test"))));
        Assert.Equal(10, labelled.Select(v => v.Recipe).Distinct().Count());
        Assert.Equal(["after", "before"], labelled.Select(v => v.OrderLabel).Distinct().Order());
        Assert.All(videos, v => Assert.Equal(v.Segments * Small.Dimension, v.Embeddings.Length));
        Assert.All(videos, v => Assert.InRange(v.Segments, Small.Steps * Small.MinStepSegments, Small.MaxLeadSegments + (Small.Steps + Small.MaxDistractorsPerVideo) * Small.MaxStepSegments));
    }

    [Theory]
    [InlineData(24L, StepRendering.Prototype)]
    [InlineData(24L, StepRendering.Alternating)]
    [InlineData(7L, StepRendering.Alternating)]
    public void Half_the_recipes_put_the_first_step_before_the_second_so_order_label_is_balanced(long seed, StepRendering rendering)
    {
        // No swaps: each video's order_label is its class's, so the count is exactly the classes' split.
        var videos = RecipeBenchmark.Generate(Small with { Seed = seed, Rendering = rendering, SwapProbability = 0 }).Where(v => v.Split != "pretrain").ToList();
        Assert.Equal(videos.Count / 2, videos.Count(v => v.OrderLabel == "before"));
        // With the default swaps (an adjacent pair may flip it) it stays near half.
        var swapped = RecipeBenchmark.Generate(Small with { Seed = seed, Rendering = rendering }).Where(v => v.Split != "pretrain").ToList();
        Assert.InRange(swapped.Count(v => v.OrderLabel == "before") / (double)swapped.Count, 0.35, 0.65);
    }

    [Fact]
    public void Alternating_steps_share_symbols_so_one_segment_does_not_name_its_step()
    {
        var spec = Small with { Rendering = StepRendering.Alternating, Noise = 0, Style = 0, Drift = 0, MaxLeadSegments = 0, DistractorTypes = 0, MaxDistractorsPerVideo = 0 };
        var video = RecipeBenchmark.Generate(spec)[0];
        // Without noise every segment equals one of the alphabet's symbols: at most Alphabet distinct rows, fewer than the steps' rows would be.
        var rows = Enumerable.Range(0, video.Segments).Select(j => string.Join(",", video.Embeddings.Skip(j * spec.Dimension).Take(spec.Dimension))).Distinct().Count();
        Assert.InRange(rows, 2, spec.Alphabet);
        Assert.Throws<ArgumentException>(() => RecipeBenchmark.Generate(spec with { Alphabet = 4 }));   // 6 pairs for 8 steps
    }

    [Fact]
    public void The_two_renderings_have_disjoint_video_ids_so_both_import_into_one_cluster()
    {
        var prototype = RecipeBenchmark.Generate(Small).Select(v => v.Id).ToHashSet();
        var alternating = RecipeBenchmark.Generate(Small with { Rendering = StepRendering.Alternating }).Select(v => v.Id).ToList();
        Assert.DoesNotContain(alternating, prototype.Contains);
    }

    [Fact]
    public void A_noisier_variant_keeps_the_recipes_gets_its_own_ids_and_spreads_segments_further_from_their_prototypes()
    {
        var quiet = RecipeBenchmark.Generate(Small);
        var noisy = RecipeBenchmark.Generate(Small with { Noise = 2.4, IdPrefix = "rn" });
        Assert.All(noisy, v => Assert.StartsWith("rn", v.Id));
        Assert.DoesNotContain(noisy.Select(v => v.Id), quiet.Select(v => v.Id).ToHashSet().Contains);
        // Same draws but the noise: same labels and lengths; each segment further from the noiseless rendering.
        Assert.Equal(quiet.Select(v => (v.Recipe, v.OrderLabel, v.Segments)), noisy.Select(v => (v.Recipe, v.OrderLabel, v.Segments)));
        var clean = RecipeBenchmark.Generate(Small with { Noise = 0 });
        double Spread(IReadOnlyList<RecipeVideo> videos) => videos.Zip(clean).Average(p => p.First.Embeddings.Zip(p.Second.Embeddings).Sum(x => (x.First - x.Second) * (x.First - x.Second)) / p.First.Segments);
        Assert.InRange(Spread(noisy) / Spread(quiet), 2.4 * 2.4 / (0.8 * 0.8) * 0.8, 2.4 * 2.4 / (0.8 * 0.8) * 1.2);   // squared norms: 9x
        Assert.Throws<ArgumentException>(() => RecipeBenchmark.Generate(Small with { Noise = -1 }));
        Assert.Throws<ArgumentException>(() => RecipeBenchmark.Generate(Small with { IdPrefix = "r/" }));
    }

    [Fact]
    public void The_same_spec_writes_the_same_files_and_labels_with_empty_cells_for_pretrain_videos()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-recipe-").FullName;
        try
        {
            var written = RecipeBenchmark.Write(dir, Small);
            Assert.Equal(written.Select(v => v.Embeddings), RecipeBenchmark.Generate(Small).Select(v => v.Embeddings));
            var lines = File.ReadAllLines(Path.Combine(dir, RecipeBenchmark.LabelsFileName));
            Assert.Equal("videoId,recipe,order_label,split", lines[0]);
            Assert.Equal($"{written[0].Id},,,pretrain", lines[1]);
            Assert.Equal(written[0].Embeddings, NpyArray.Read(Path.Combine(dir, written[0].Id + ".npy")).ToFloats());
            Assert.NotEqual(written[0].Embeddings, RecipeBenchmark.Generate(Small with { Seed = 25 })[0].Embeddings);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
