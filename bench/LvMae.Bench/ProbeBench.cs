using System.Diagnostics;
using System.Text;
using LvMae.Model;
using LvMae.Model.Probing;
using static TorchSharp.torch;

namespace LvMae.Bench;

/// <summary>
/// The attentive probe's cost. Its one transformer block is read only at the query token, so the product computes that row
/// alone (<see cref="TransformerBlock.ForwardFirst"/>); the baseline, in the same run, is the whole block with row 0 read
/// (what the probe did before). Then a whole attentive probe fit through <see cref="ProbeTrainer"/> at a benchmark's size.
/// </summary>
public sealed class ProbeBench : IBenchSuite
{
    public string Name => "probe";

    public Task<string> RunAsync(BenchContext context)
    {
        var md = new StringBuilder();
        md.AppendLine("### The attentive probe's block: the query row alone vs the whole block");
        md.AppendLine();
        md.AppendLine("One training step of the probe's block (pre-norm MHSA + MLP, 8 heads) on a batch of 16 videos: forward, loss on the query " +
                      "token's output, backward, Adam. Before: the whole block over query + tokens, row 0 read; now: `TransformerBlock.ForwardFirst` " +
                      "(the same numbers, tested in `ModelInvariantTests`). Fastest of 7 after 2 warm-up steps, the two interleaved; torch's default threads.");
        md.AppendLine();
        md.AppendLine("| width | tokens | whole block ms/step | query row ms/step | speed-up |");
        md.AppendLine("|---:|---:|---:|---:|---:|");
        foreach (var (width, tokens) in new[] { (128, 130), (256, 130), (256, 250) })
        {
            var (whole, row) = BlockSteps(width, tokens, context.Quick ? 3 : 7);
            md.AppendLine($"| {width} | {tokens} | {whole:F1} | {row:F1} | **x{whole / row:F1}** |");
            Console.WriteLine($"probe block {width}x{tokens}: whole {whole:F1} ms, row {row:F1} ms");
        }
        md.AppendLine();

        var (train, test) = (SyntheticSet(400, 128, seed: 1), SyntheticSet(200, 128, seed: 2));
        var watch = Stopwatch.StartNew();
        var result = ProbeTrainer.Run(train, test, ProbeOptions.Attentive() with { Seed = 1, Device = "cpu" });
        var fit = watch.Elapsed.TotalSeconds;
        md.AppendLine($"A whole attentive probe fit (`ProbeTrainer.Run`, the paper's 20 epochs, one probe seed) on 400 train + 200 test videos " +
                      $"of 50-250 random 128-d tokens, 10 classes: **{fit:F1} s** (test top-1 {result.Top1 * 100:F1}%, chance on random data). " +
                      "`lvmae probe` fits 3 probe seeds per feature set.");
        return Task.FromResult(md.ToString());
    }

    private static (double WholeMs, double RowMs) BlockSteps(int width, int tokens, int repeats)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var block = new TransformerBlock(width, 8);
        using var optimizer = optim.Adam(block.parameters(), 1e-3);
        var x = randn(16, tokens + 1, width);
        var keyMask = ones(16, 1, 1, tokens + 1, dtype: ScalarType.Bool);
        double Step(bool rowOnly)
        {
            using var stepScope = NewDisposeScope();
            var watch = Stopwatch.StartNew();
            optimizer.zero_grad();
            var h = rowOnly ? block.ForwardFirst(x, keyMask) : block.forward(x, keyMask).narrow(1, 0, 1);
            h.square().mean().backward();
            optimizer.step();
            return watch.Elapsed.TotalMilliseconds;
        }
        for (var i = 0; i < 2; i++) { Step(false); Step(true); }
        var (whole, row) = (double.MaxValue, double.MaxValue);
        for (var i = 0; i < repeats; i++) { whole = Math.Min(whole, Step(false)); row = Math.Min(row, Step(true)); }
        return (whole, row);
    }

    private static ProbeSet SyntheticSet(int videos, int dim, int seed)
    {
        var rng = new Random(seed);
        var tokens = Enumerable.Range(0, videos).Select(_ =>
        {
            var video = new float[rng.Next(50, 251) * dim];
            for (var i = 0; i < video.Length; i++) video[i] = (float)(rng.NextDouble() * 2 - 1);
            return video;
        }).ToList();
        return new ProbeSet(tokens, null, dim, Labels: Enumerable.Range(0, videos).Select(_ => rng.Next(10)).ToArray());
    }
}
