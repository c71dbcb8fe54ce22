using LvMae.Model.Masking;

namespace LvMae.Model.Tests;

public class MaskingTests
{
    public static TheoryData<string> Strategies => new(MaskingStrategies.Names);

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Masks_respect_length_keep_one_visible_and_are_reproducible(string name)
    {
        var strategy = MaskingStrategies.Create(name);
        var dim = 8;
        var batch = Synthetic.Batch(3, dim, 1, 2, 3, 5, 16, 40);
        var a = strategy.SampleBatch(batch, new Random(42));
        var b = strategy.SampleBatch(batch, new Random(42));
        Assert.Equal(a, b);
        for (var i = 0; i < batch.BatchSize; i++)
        {
            var row = a.AsSpan(i * batch.Tokens, batch.Tokens).ToArray();
            var length = batch.Lengths[i];
            Assert.All(row.Skip(length), m => Assert.False(m));
            Assert.Contains(false, row.Take(length));
            if (length >= 5) Assert.Contains(true, row.Take(length));
        }
    }

    [Fact]
    public void Random_masking_masks_the_reference_count()
    {
        var mask = new RandomMasking(0.4).Sample(new float[16 * 4], 16, 4, new Random(1));
        Assert.Equal(7, mask.Count(m => m));   // keep int(16 * 0.6) = 9
        Assert.Equal(2, new RandomMasking(0.4).Sample(new float[20], 5, 4, new Random(1)).Count(m => m));
    }

    [Fact]
    public void Semantic_masks_the_least_similar_and_semantic_keep_the_most_similar()
    {
        // Tokens 0..5 identical except tokens 2 and 4, which jump away from their predecessors.
        var dim = 4;
        var e = new float[6 * dim];
        for (var j = 0; j < 6; j++) e[j * dim] = 1;
        e[2 * dim] = 0; e[2 * dim + 1] = 1;
        e[4 * dim] = 0; e[4 * dim + 2] = 1;
        var paper = new SemanticMasking(0.3, maskLeastSimilar: true).Sample(e, 6, dim, new Random(0));
        // similarities: t0=1 (its successor's), t1=1, t2=0, t3=0, t4=0, t5=0 -> lowest are 2,3,4,5 (ties by position)
        Assert.Equal(2, paper.Count(m => m));
        Assert.True(paper[2] && paper[3]);
        var keep = new SemanticMasking(0.3, maskLeastSimilar: false).Sample(e, 6, dim, new Random(0));
        Assert.True(keep[0] && keep[1]);
        Assert.False(keep[2] || keep[4]);
    }

    [Fact]
    public void Uniform_masks_every_kth()
    {
        var mask = new UniformMasking(3).Sample(new float[12 * 2], 12, 2, new Random(0));
        Assert.Equal(4, mask.Count(m => m));
        var first = Array.IndexOf(mask, true);
        for (var j = 0; j < 12; j++) Assert.Equal((j - first) % 3 == 0 && j >= first, mask[j]);
    }
}

public class SpanMaskingTests
{
    [Fact]
    public void Span_masks_the_reference_count_in_contiguous_runs()
    {
        var masks = Enumerable.Range(0, 50).Select(s => new SpanMasking(0.5, 8).Sample(new float[200], 200, 1, new Random(s))).ToList();
        Assert.All(masks, m => Assert.Equal(MaskingStrategies.MaskedCount(200, 0.5), m.Count(x => x)));
        // Random masking at 0.5 gives runs of ~2 masked tokens; spans of 8 on average give far longer runs.
        static double MeanRun(bool[] m)
        {
            var runs = new List<int>();
            var current = 0;
            foreach (var x in m.Append(false)) { if (x) current++; else if (current > 0) { runs.Add(current); current = 0; } }
            return runs.Average();
        }
        var span = masks.Average(MeanRun);
        var random = Enumerable.Range(0, 50).Average(s => MeanRun(new RandomMasking(0.5).Sample(new float[200], 200, 1, new Random(s))));
        Assert.True(span > 2 * random, $"span runs {span:F1}, random runs {random:F1}");
        Assert.Equal(16, ((SpanMasking)MaskingStrategies.Create("span:16", 0.6)).MeanSpan);
        Assert.Throws<ArgumentException>(() => MaskingStrategies.Create("span:0"));
    }
}
