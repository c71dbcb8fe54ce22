using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Quantization;
using LvMae.Model.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

public class FsqTests(ITestOutputHelper output)
{
    [Fact]
    public void Indices_and_codes_round_trip_over_the_whole_codebook()
    {
        using var scope = NewDisposeScope();
        var fsq = new Fsq(8, 5, 5, 5);
        Assert.Equal(1000, fsq.CodebookSize);
        var all = arange(1000L);
        var codes = fsq.IndicesToCodes(all);
        Assert.Equal(new long[] { 1000, 4 }, codes.shape);
        Assert.True(codes.abs().max().item<float>() <= 1f);
        Assert.Equal(all.data<long>().ToArray(), fsq.CodesToIndices(codes).data<long>().ToArray());

        // Quantised codes of arbitrary inputs are codebook entries: codes -> indices -> codes is exact.
        var quantised = fsq.Quantize(randn(64, 4) * 3);
        Assert.True(fsq.IndicesToCodes(fsq.CodesToIndices(quantised)).allclose(quantised));
    }

    [Fact]
    public void Bound_gives_each_channel_exactly_its_levels()
    {
        using var scope = NewDisposeScope();
        int[] levels = [8, 5, 3, 4];
        var fsq = new Fsq(levels);
        var z = linspace(-20, 20, 4001).unsqueeze(1).expand(-1, 4);
        var bounded = fsq.Bound(z);
        var q = Fsq.RoundSte(bounded);
        for (var c = 0; c < levels.Length; c++)
        {
            var values = q[.., c].unique().Item1.data<float>().ToArray();
            Assert.Equal(levels[c], values.Length);
            var half = levels[c] / 2;
            Assert.Equal(-half, values.Min());
            Assert.Equal(levels[c] % 2 == 0 ? half - 1 : half, values.Max());
            Assert.True(bounded[.., c].abs().max().item<float>() <= (levels[c] - 1) * (1 + 1e-3) / 2 + 0.5 + 1e-5);
        }
        Assert.Equal(0f, fsq.Quantize(zeros(1, 4)).abs().max().item<float>());   // zero maps to the zero code
    }

    [Fact]
    public void Rounding_is_straight_through()
    {
        using var scope = NewDisposeScope();
        var fsq = new Fsq(8, 5, 5, 5);
        var z = (randn(16, 4) * 0.7).requires_grad_(true);
        fsq.Quantize(z).sum().backward();
        var zs = z.detach().clone().requires_grad_(true);
        var hw = tensor(new[] { 4f, 2f, 2f, 2f });
        (fsq.Bound(zs) / hw).sum().backward();   // the same map without rounding
        Assert.True(z.grad!.allclose(zs.grad!));
        Assert.True(z.grad!.abs().min().item<float>() > 0);
    }

    private static List<float[]> ClusteredVideos(int seed, int count, int dim, int clusters)
    {
        var rng = new Random(seed);
        var centres = Enumerable.Range(0, clusters).Select(_ => Synthetic.Video(rng, 1, dim)).ToList();
        return Enumerable.Range(0, count).Select(_ =>
        {
            var n = rng.Next(8, 20);
            var v = new float[n * dim];
            for (var j = 0; j < n; j++)
            {
                var c = centres[rng.Next(clusters)];
                for (var k = 0; k < dim; k++) v[j * dim + k] = c[k] + (float)((rng.NextDouble() * 2 - 1) * 0.1);
            }
            return v;
        }).ToList();
    }

    [Fact]
    public void Fsq_autoencoder_learns_and_reports_codebook_usage()
    {
        var videos = ClusteredVideos(1, 20, 16, 12);
        var (model, loss, usage) = FsqAutoencoder.Fit(videos, 16, new FsqOptions { Levels = [8, 5, 5, 5], Hidden = 32, Steps = 300, BatchTokens = 64, Lr = 3e-3, Seed = 2 });
        using var _ = model;
        output.WriteLine($"final loss {loss:F4}; codebook usage {usage.Used}/{usage.CodebookSize} ({usage.Fraction:P1}), perplexity {usage.Perplexity:F1} over {usage.Tokens} tokens");
        Assert.True(loss < 0.03, $"FSQ reconstruction loss {loss}");   // normalised 16-d rows: per-element variance ~ 1/16
        Assert.InRange(usage.Used, 12, 1000);
        Assert.True(usage.Perplexity > 6);
        Assert.Equal(3, CodebookUsage.Of([1L, 1, 2, 3], 10).Used);
    }

    [Fact]
    public void Mae_trains_on_fsq_code_targets_with_cross_entropy()
    {
        var videos = ClusteredVideos(3, 12, 16, 8);
        var (fsq, _, _) = FsqAutoencoder.Fit(videos, 16, new FsqOptions { Levels = [5, 5, 3], Hidden = 32, Steps = 200, BatchTokens = 64, Lr = 3e-3, Seed = 2 });
        using var __ = fsq;
        var options = new TrainerOptions { Model = Synthetic.TinyConfig(16, 32), AbsoluteLr = 3e-3, WarmupSteps = 2, TotalSteps = 40, Seed = 3, ClipGradNorm = 1 };
        using var trainer = new Trainer(options with { Adaptive = new AdaptiveOptions { FsqTargets = true } }, fsq: fsq);
        var batch = EmbeddingBatch.FromSequences(videos, 16);
        long[] Codes() { using var s = NewDisposeScope(); return fsq.Indices(LvMaeModel.Normalise(batch.ToTensor())).data<long>().ToArray(); }
        var codesBefore = Codes();
        var losses = Enumerable.Range(0, 40).Select(_ => trainer.Step(batch).Loss).ToList();
        Assert.Equal(codesBefore, Codes());   // the quantizer stays frozen: targets never drift
        output.WriteLine($"cross-entropy {losses[0]:F3} -> {losses[^1]:F3} (ln 75 = {Math.Log(75):F3})");
        Assert.InRange(losses[0], Math.Log(75) - 1.5, Math.Log(75) + 1.5);   // starts near uniform over 75 codes
        Assert.True(losses[^1] < losses[0] - 1, "cross-entropy on code indices must fall");
    }
}
