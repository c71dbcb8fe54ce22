using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Masking;
using LvMae.Model.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

public class AdaptiveTests(ITestOutputHelper output)
{
    private static Tensor Valid(params bool[] flags) => tensor(flags, new long[] { 1, flags.Length });

    [Fact]
    public void Perturbed_top_k_forward_is_the_selection_probability()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(1, CPU);
        // Equal scores: every valid token is picked with probability k / n; PAD never.
        var equal = PerturbedTopK.Apply(zeros(1, 6), Valid(true, true, true, true, true, false), tensor(new long[] { 2 }), 20000, 0.1, generator);
        var p = equal.data<float>().ToArray();
        Assert.All(p.Take(5), v => Assert.InRange(v, 0.4 - 0.015, 0.4 + 0.015));
        Assert.Equal(0f, p[5]);
        Assert.Equal(2.0, p.Sum(), 4);
        // Two tokens, k = 1: P(s0 + sigma z0 > s1 + sigma z1) = Phi((s0 - s1) / (sigma sqrt 2)) = Phi(0.7071) = 0.7602.
        var two = PerturbedTopK.Apply(tensor(new[] { 0.1f, 0f }, new long[] { 1, 2 }), Valid(true, true), tensor(new long[] { 1 }), 20000, 0.1, generator);
        Assert.InRange(two.data<float>()[0], 0.7602 - 0.012, 0.7602 + 0.012);
        // Hard (inference) top-k with a per-row k.
        var hard = PerturbedTopK.Hard(tensor(new[] { 3f, 1f, 2f, 0f, 5f, 4f, 1f, 0f }, new long[] { 2, 4 }), tensor(new long[] { 2, 1 }).view(2, 1));
        Assert.Equal([1f, 0f, 1f, 0f, 1f, 0f, 0f, 0f], hard.data<float>().ToArray());
    }

    [Fact]
    public void Perturbed_top_k_gradient_points_towards_the_rewarded_token()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(2, CPU);
        var scores = zeros(new long[] { 1, 4 }, requires_grad: true);
        var reward = tensor(new[] { 0f, 0f, 1f, 0f }, new long[] { 1, 4 });
        var y = PerturbedTopK.Apply(scores, Valid(true, true, true, true), tensor(new long[] { 1 }), 2000, 0.1, generator);
        (-(y * reward).sum()).backward();
        var grad = scores.grad!.data<float>().ToArray();
        output.WriteLine($"grad {string.Join(", ", grad)}");
        Assert.True(grad[2] < -0.5, "raising the rewarded token's score must lower the loss");
        Assert.All(new[] { grad[0], grad[1], grad[3] }, g => Assert.True(g > 0, "raising a competitor must raise the loss"));

        // A few SGD steps on the surrogate make the rewarded token the hard top-1.
        var s = zeros(new long[] { 1, 4 }, requires_grad: true);
        for (var step = 0; step < 20; step++)
        {
            using var inner = NewDisposeScope();
            var sel = PerturbedTopK.Apply(s, Valid(true, true, true, true), tensor(new long[] { 1 }), 200, 0.1, generator);
            (-(sel * reward).sum()).backward();
            using (no_grad()) { s.sub_(s.grad! * 0.05); s.grad!.zero_(); }
        }
        Assert.Equal(2, s.argmax().item<long>());
    }

    [Fact]
    public void Budget_is_counted_per_sample_on_valid_length_and_only_among_masked_tokens()
    {
        Assert.Equal(3, DecoderSelection.BudgetTokens(20, 0.15));   // 3.0000000000000004 -> 3
        Assert.Equal(2, DecoderSelection.BudgetTokens(7, 0.15));    // 1.05 -> 2
        Assert.Equal(1, DecoderSelection.BudgetTokens(1, 0.15));
        Assert.Equal(10, DecoderSelection.BudgetTokens(20, 0.5));
        Assert.Equal(20, DecoderSelection.BudgetTokens(20, 1.0));

        int[] lengths = [20, 7, 2];
        const int n = 20;
        var rng = new Random(3);
        var mask = new bool[lengths.Length * n];
        for (var i = 0; i < lengths.Length; i++)
            for (var j = 0; j < n; j++) mask[i * n + j] = j < lengths[i] ? j % 2 == 1 : true;   // PAD slots flagged: must be ignored
        var scores = Enumerable.Range(0, mask.Length).Select(_ => (float)rng.NextDouble()).ToArray();
        foreach (var selected in new[] { DecoderSelection.TopK(scores, mask, lengths, n, 0.15), DecoderSelection.Random(mask, lengths, n, 0.15, rng) })
        {
            Assert.Equal([3, 2, 1], selected.Select(s => s.Length));   // sample 2: 1 masked token (of 2) caps ceil(0.3) = 1
            for (var i = 0; i < lengths.Length; i++)
                Assert.All(selected[i], j => Assert.True(j < lengths[i] && mask[i * n + j]));
        }
        // Top-k takes the highest-scoring masked tokens.
        var top = DecoderSelection.TopK(scores, mask, lengths, n, 0.15)[0];
        var expected = Enumerable.Range(0, 20).Where(j => j % 2 == 1).OrderByDescending(j => scores[j]).Take(3).Order();
        Assert.Equal(expected, top);
        // Budget 100% = every masked token.
        Assert.Equal(DecoderSelection.All(mask, lengths, n).Select(s => s.Length), DecoderSelection.Random(mask, lengths, n, 1.0, rng).Select(s => s.Length));
    }

    [Fact]
    public void Decoder_sees_exactly_the_selected_tokens_and_the_loss_covers_only_them()
    {
        using var scope = NewDisposeScope();
        const int dim = 16, n = 12;
        var batch = Synthetic.Batch(4, dim, 12, 9);
        using var model = new LvMaeModel(Synthetic.TinyConfig(dim, 32), seed: 5);
        model.eval();
        var mask = new bool[2 * n];
        foreach (var j in new[] { 1, 2, 4, 6, 7, 9 }) mask[j] = true;
        foreach (var j in new[] { 0, 3, 5, 8 }) mask[n + j] = true;
        int[][] selected = [[2, 7], [5]];
        var layout = TokenLayout.Build(n, batch.Lengths, mask, selected);
        var x = batch.ToTensor();
        var result = model.Forward(x, layout);

        Assert.Equal(2, layout.Targets);
        Assert.Equal(1 + layout.Visible + 2, result.DecoderOutput.shape[1]);   // [CLS] + visible + selected, not every masked token
        Assert.Equal(new long[] { 2, 7, 5, 0 }, layout.TargetPositions);
        Assert.Equal(new[] { true, true, true, false }, layout.TargetValid);

        // A masked but unselected token is seen by nobody: changing it changes nothing.
        var changed = x.clone();
        changed[0, 4] = randn(dim);
        changed[1, 8] = randn(dim);
        var same = model.Forward(changed, layout);
        Assert.Equal(result.Loss.item<float>(), same.Loss.item<float>());
        // A selected one is a target: the loss moves.
        changed[0, 7] = randn(dim);
        Assert.NotEqual(result.Loss.item<float>(), model.Forward(changed, layout).Loss.item<float>());
    }

    /// <summary>Toy sequences: every segment is the sample's base vector plus a little noise, except
    /// one random position that is a fresh random vector (unpredictable from its context).</summary>
    private static (EmbeddingBatch Batch, int[] Odd) Toy(Random rng, int batch, int n, int dim)
    {
        var odd = new int[batch];
        var sequences = new List<float[]>();
        for (var i = 0; i < batch; i++)
        {
            var baseVector = Synthetic.Video(rng, 1, dim);
            var seq = new float[n * dim];
            odd[i] = rng.Next(n);
            for (var j = 0; j < n; j++)
                for (var k = 0; k < dim; k++)
                    seq[j * dim + k] = j == odd[i] ? (float)(rng.NextDouble() * 2 - 1) : baseVector[k] + (float)((rng.NextDouble() * 2 - 1) * 0.05);
            sequences.Add(seq);
        }
        return (EmbeddingBatch.FromSequences(sequences, dim), odd);
    }

    [Fact]
    public void Scorer_learns_to_prefer_the_unpredictable_token()
    {
        const int dim = 8, n = 8;
        var rng = new Random(11);
        using var trainer = new AdaptiveScorerTrainer(dim, new ScorerOptions { Hidden = 32, Budget = 0.125, Samples = 50, Sigma = 1.0, Lr = 1e-2, Seed = 1 });
        double first = double.NaN, last = 0;
        for (var step = 0; step < 300; step++)
        {
            var loss = trainer.Step(Toy(rng, 16, n, dim).Batch);
            if (step == 0) first = loss;
            if (step >= 290) last += loss / 10;
        }
        var (test, odd) = Toy(new Random(99), 64, n, dim);
        var scores = trainer.Score(test);
        var hits = Enumerable.Range(0, 64).Count(i => Enumerable.Range(0, n).MaxBy(j => scores[i * n + j]) == odd[i]);
        output.WriteLine($"context-prediction loss {first:F4} -> {last:F4}; odd token ranked first in {hits}/64 (chance 8)");
        Assert.True(last < first, "the context predictor must learn");
        Assert.True(hits >= 48, $"odd token ranked first in only {hits}/64");
    }

    [Fact]
    public void Padding_does_not_change_a_token_score()
    {
        using var scope = NewDisposeScope();
        var rng = new Random(5);
        var video = Synthetic.Video(rng, 5, 8);
        using var scorer = new TokenScorer(8, 16, seed: 2);
        var alone = scorer.Score(LvMaeModel.Normalise(tensor(video, new long[] { 1, 5, 8 })), ones(1, 5, dtype: ScalarType.Bool));
        var padded = EmbeddingBatch.FromSequences([video, Synthetic.Video(rng, 9, 8)], 8);
        var scores = scorer.Score(LvMaeModel.Normalise(padded.ToTensor()), AdaptiveScorerTrainer.ValidMask(padded.Lengths, padded.Tokens, CPU));
        for (var j = 0; j < 5; j++) Assert.Equal(alone[j], scores[j], 5);
    }

    [Theory]
    [InlineData(DecoderMasking.Adaptive)]
    [InlineData(DecoderMasking.Random)]
    public void Adaptive_trainer_reconstructs_only_the_budget(DecoderMasking mode)
    {
        var rng = new Random(8);
        var videos = Enumerable.Range(0, 6).Select(_ => Synthetic.SmoothVideo(rng, rng.Next(10, 30), 16)).ToList();
        var options = new TrainerOptions { Model = Synthetic.TinyConfig(16, 32), AbsoluteLr = 3e-3, WarmupSteps = 2, TotalSteps = 10, Seed = 3, ClipGradNorm = 1 };
        using var trainer = new Trainer(options with { Adaptive = new AdaptiveOptions { DecoderMasking = mode, DecoderBudget = 0.15 } });
        for (var step = 0; step < 3; step++)
        {
            var batch = EmbeddingBatch.FromSequences(videos, 16);
            var result = trainer.Step(batch);
            Assert.True(double.IsFinite(result.Loss));
            Assert.Equal(batch.Lengths.Select(l => Math.Min(DecoderSelection.BudgetTokens(l, 0.15), l - Math.Max(1, (int)(l * 0.6)))), trainer.LastDecoderTargets.Select(t => t.Length));
            Assert.Equal(trainer.LastDecoderTargets.Sum(t => t.Length), result.MaskedTokens);
        }
    }

    [Fact]
    public void The_core_trainer_takes_scorer_chosen_decoder_targets()
    {
        // The adaptive pieces also plug into Trainer.Step(batch, mask, decoderTargets) unchanged.
        var rng = new Random(9);
        var batch = EmbeddingBatch.FromSequences(Enumerable.Range(0, 4).Select(_ => Synthetic.SmoothVideo(rng, rng.Next(10, 30), 16)).ToList(), 16);
        var options = new TrainerOptions { Model = Synthetic.TinyConfig(16, 32), AbsoluteLr = 3e-3, WarmupSteps = 1, TotalSteps = 5, Seed = 2 };
        using var trainer = new Trainer(options, "cpu");
        using var scorer = new AdaptiveScorerTrainer(16, new ScorerOptions { Hidden = 16, Budget = 0.15 });
        scorer.Step(batch);
        var mask = trainer.Masking.SampleBatch(batch, Trainer.StepRandom(options.Seed, trainer.StepCount));
        var targets = DecoderSelection.TopK(scorer.Score(batch), mask, batch.Lengths, batch.Tokens, 0.15);
        var result = trainer.Step(batch, mask, targets);
        Assert.True(double.IsFinite(result.Loss));
        Assert.Equal(targets.Sum(t => t.Length), result.MaskedTokens);
    }
}
