using System.Diagnostics;
using System.Text;
using LvMae.Model;
using LvMae.Model.Adaptive;
using LvMae.Model.Data;
using LvMae.Model.Training;
using LvMae.Pipeline;
using static TorchSharp.torch;

namespace LvMae.Bench;

/// <summary>
/// LV-MAE training throughput on CPU: ms/step and valid tokens/s for the tiny/small/base presets
/// (512-d segment embeddings, as the default ResNet-18 encoder gives), and each step's achieved
/// FLOP/s as a fraction of a large float32 matmul's FLOP/s measured in the same run (the baseline).
/// FLOPs are counted analytically for the matmuls of forward + backward (3x forward): linears,
/// attention scores and values, on the packed sequences the model really computes.
/// </summary>
public sealed class ModelBench : IBenchSuite
{
    public string Name => "model";

    private const int Dim = 512;
    private const int Batch = 16;
    private const int Tokens = 128;

    public Task<string> RunAsync(BenchContext context)
    {
        var quick = context.Quick;
        var original = get_num_threads();
        var threadCounts = quick ? new[] { original } : new[] { 1, original }.Distinct().ToArray();
        var text = new StringBuilder();
        text.AppendLine($"Training step = masked-autoencoder forward + backward + AdamW (random masking 40%), batch {Batch} x {Tokens} tokens of {Dim}-d embeddings, CPU. Load average at the start: {LoadAverage()} (other jobs on the cores slow the step and the matmul alike, the small presets most).");
        text.AppendLine($"Baseline: a float32 {(quick ? 1024 : 2048)}^3 matmul at the same torch thread count, measured right before each preset. Times are the fastest of several runs (after a warm-up), for steps and matmul alike.");
        text.AppendLine();
        text.AppendLine("| threads | preset | encoder | decoder | params | ms/step | tokens/s | GFLOP/step | GFLOP/s | matmul GFLOP/s | of matmul |");
        text.AppendLine("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
        double? baseOneThread = null;   // the feed section's comparison: the same preset and thread count on full synthetic batches
        try
        {
            foreach (var threads in threadCounts)
            {
                set_num_threads(threads);
                foreach (var preset in new[] { "tiny", "small", "base" })
                {
                    // Baseline right before each preset, so both see the same machine load.
                    var matmul = MatmulFlops(quick ? 1024 : 2048, quick ? 3 : 5);
                    var config = MaeConfig.FromPreset(preset, Dim);
                    using var trainer = new Trainer(new TrainerOptions { Model = config, AbsoluteLr = 1e-4, WarmupSteps = 0, TotalSteps = 1000, Seed = 1 }, "cpu");
                    var batch = MakeBatch(new Random(1));
                    var steps = quick ? (preset == "base" ? 1 : 3) : (preset == "base" ? 3 : 10);
                    var seconds = MinSeconds(steps, () => trainer.Step(batch));
                    var visible = Tokens - LvMae.Model.Masking.MaskingStrategies.MaskedCount(Tokens, 0.4);
                    var flops = StepFlops(config, visible, Tokens - visible) * Batch;
                    var rate = flops / seconds;
                    var parameters = trainer.Model.parameters().Sum(p => p.numel());
                    if (threads == 1 && preset == "base") baseOneThread = rate / matmul;
                    text.AppendLine($"| {threads} | {preset} | {config.Width} x {config.EncoderDepth} | {config.DecoderDim} x {config.DecoderDepth} | {parameters / 1e6:F2} M | {seconds * 1e3:F0} | {Batch * Tokens / seconds:F0} | {flops / 1e9:F1} | {rate / 1e9:F1} | {matmul / 1e9:F1} | {rate / matmul:P0} |");
                    Console.WriteLine($"{threads} thread(s) {preset}: {seconds * 1e3:F0} ms/step, {rate / 1e9:F1} GFLOP/s, matmul {matmul / 1e9:F1} GFLOP/s, {rate / matmul:P0}");
                }
            }
        }
        finally
        {
            set_num_threads(original);
        }
        text.AppendLine();
        text.AppendLine("tokens/s counts valid input tokens per second. FLOPs are the matmul FLOPs (2mnk) of forward + backward (3x forward: linears, attention scores and values) on the packed sequences the model computes ([CLS] + 77 visible in the encoder, [CLS] + 128 in the decoder); LayerNorm, GELU, softmax and AdamW are not counted, so the fraction is a lower bound on how busy the cores are. Presets: `MaeConfig.FromPreset` (tiny/small project the 512-d input to 64/128 wide; base keeps width = d, as the reference). The machine is shared: with other jobs running, libtorch's worker threads contend, which hurts the small presets most (use `TrainerOptions.TorchThreads = 1` there).");
        text.Append(FeedBatchSection(quick, baseOneThread));
        text.Append(DecoderBudgetSection(quick));
        return Task.FromResult(text.ToString());
    }

    /// <summary>
    /// Training throughput on real feed batches, through the product's path: <see cref="TrainingFeed"/> (product defaults:
    /// at most 16 windows of 10-1280 s, 16 x 256 padded tokens) over a corpus of 1-20 minute videos, into
    /// <see cref="Trainer.Step"/> at the base preset; length-bucketed batches against batches cut in shuffle order
    /// (<see cref="TrainingFeedOptions.BucketByLength"/> off), over the same epoch, hence the same windows, their steps
    /// interleaved so both see the same machine load. Valid-token FLOPs count each window's own matmuls (its visible
    /// tokens in the encoder, its visible + masked in the decoder), never the padding; the baseline is the matmul above,
    /// measured every few steps during the passes.
    /// </summary>
    private static string FeedBatchSection(bool quick, double? fullBatchShare)
    {
        // One torch thread: the step and the matmul baseline alike; on a shared machine two libtorch workers contend with
        // other jobs and their ratio measures the contention (see the 2-thread rows above), not the padding.
        var threads = get_num_threads();
        set_num_threads(1);
        try { return FeedBatchPasses(quick, fullBatchShare); }
        finally { set_num_threads(threads); }
    }

    private static string FeedBatchPasses(bool quick, double? fullBatchShare)
    {
        var videos = quick ? 64 : 320;
        var repeats = quick ? 1 : 3;
        var config = MaeConfig.FromPreset("base", Dim);
        var source = FeedCorpus.Standard.Source(videos);
        var loader = FeedCorpus.Standard.InMemory(videos);
        using var trainer = new Trainer(new TrainerOptions { Model = config, AbsoluteLr = 1e-4, WarmupSteps = 0, TotalSteps = 100_000, Seed = 1 }, "cpu");
        var ratio = ((LvMae.Model.Masking.RandomMasking)trainer.Masking).Ratio;
        trainer.Step(MakeBatch(new Random(2)));   // warm-up

        FeedPass Pass(bool bucketed) => new(bucketed, TrainingFeed.Start(source, loader,
            new TrainingFeedOptions { Encoder = "resnet18", Dimension = Dim, Seed = 1, Epochs = 1, BucketByLength = bucketed }));
        var passes = new[] { Pass(bucketed: false), Pass(bucketed: true) };
        var matmuls = new List<double>();
        try
        {
            for (var round = 0; passes.Any(p => !p.Done); round++)
            {
                if (round % 4 == 0) matmuls.Add(MatmulFlops(quick ? 1024 : 2048, 3));
                foreach (var pass in passes) pass.StepNext(trainer, config, ratio, repeats);
            }
        }
        finally
        {
            foreach (var pass in passes) pass.Dispose();
        }
        var matmul = matmuls.Average();
        foreach (var pass in passes)
            Console.WriteLine($"feed batches, bucketed {pass.Bucketed}: {pass.Batches} batches, {pass.ValidShare:P0} valid, " +
                              $"{pass.ValidFlops / pass.Seconds / 1e9:F1} valid GFLOP/s = {pass.ValidFlops / pass.Seconds / matmul:P0} of matmul {matmul / 1e9:F1} " +
                              $"(fastest of {repeats} per batch: {pass.ValidFlops / pass.FastestSeconds / matmul:P0})");

        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine("### Real feed batches (base preset, through the training feed and `Trainer.Step`)");
        text.AppendLine();
        text.AppendLine($"`TrainingFeed` with the product's defaults (at most 16 windows of 10-1280 s, at most 256 tokens, 16 x 256 padded tokens a batch) over " +
                        $"{videos} in-memory videos of {FeedCorpus.Standard.MinSegments}-{FeedCorpus.Standard.MaxSegments} segments ({Dim}-d), every batch of one " +
                        "epoch into `Trainer.Step` (base preset, random masking, 1 torch thread), once with batches cut in shuffle order " +
                        "(`BucketByLength = false`, the feed before length bucketing) and once length-bucketed (the default): the same windows either way, " +
                        "the two passes' steps interleaved so that both see the same machine load. Valid-token FLOPs: each window's own matmul FLOPs " +
                        "(forward + backward, counted as above on its own visible / masked tokens), never the padding; computed FLOPs: what the model ran on " +
                        $"the padded batch. Baseline: the {(quick ? 1024 : 2048)}^3 matmul, fastest of 3, measured every 4 step pairs ({matmuls.Count} times; mean " +
                        $"{matmul / 1e9:F1} GFLOP/s, range {matmuls.Min() / 1e9:F1}-{matmuls.Max() / 1e9:F1}). \"as fed\": every step's time, the batch's first " +
                        $"step; \"fastest of {repeats}\": each batch stepped {repeats} times and its fastest kept, the way the table above and the matmul are timed " +
                        "(the least disturbed run on a shared machine).");
        text.AppendLine();
        text.AppendLine("| feed | batches | valid tokens | valid share | step s as fed | computed GFLOP/s | valid GFLOP/s | **valid / matmul**, as fed | " +
                        $"step s, fastest of {repeats} | **valid / matmul**, fastest of {repeats} |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in passes)
            text.AppendLine($"| {(r.Bucketed ? "length-bucketed (default)" : "shuffle order (before)")} | {r.Batches} | {r.ValidTokens:N0} | {r.ValidShare:P0} | {r.Seconds:F1} | " +
                            $"{r.ComputedFlops / r.Seconds / 1e9:F1} | {r.ValidFlops / r.Seconds / 1e9:F1} | **{r.ValidFlops / r.Seconds / matmul:P0}** | " +
                            $"{r.FastestSeconds:F1} | **{r.ValidFlops / r.FastestSeconds / matmul:P0}** |");
        double Share(FeedPass pass, bool fastest) => pass.ValidFlops / (fastest ? pass.FastestSeconds : pass.Seconds) / matmul;
        text.AppendLine();
        text.AppendLine($"Length bucketing: valid-token FLOP/s x{Share(passes[1], false) / Share(passes[0], false):F2} as fed ({Share(passes[0], false):P0} -> " +
                        $"**{Share(passes[1], false):P0}** of the matmul's), x{Share(passes[1], true) / Share(passes[0], true):F2} fastest of {repeats} " +
                        $"({Share(passes[0], true):P0} -> **{Share(passes[1], true):P0}**)." +
                        (fullBatchShare is { } full
                            ? $" For scale, in this run the same preset on full synthetic batches (16 x {Tokens}, no padding, fastest of several steps) reached {full:P0} " +
                              $"of its matmul: the bucketed feed gets {Share(passes[1], true) / full:P0} of that, timed the same way."
                            : ""));
        return text.ToString();
    }

    /// <summary>One feed's batches stepped through the trainer one at a time: step time and FLOPs, valid and computed.</summary>
    private sealed class FeedPass(bool bucketed, TrainingFeed feed) : IDisposable
    {
        private readonly IEnumerator<TrainingBatch> _batches = feed.ReadAllBlocking().GetEnumerator();

        public bool Bucketed { get; } = bucketed;
        public bool Done { get; private set; }
        public int Batches { get; private set; }
        public long ValidTokens { get; private set; }
        public long PaddedTokens { get; private set; }
        public double Seconds { get; private set; }
        public double ValidFlops { get; private set; }
        public double ComputedFlops { get; private set; }
        public double ValidShare => (double)ValidTokens / PaddedTokens;

        /// <summary>Seconds of the fastest of the repeats of each batch (the first is the step as fed).</summary>
        public double FastestSeconds { get; private set; }

        /// <param name="repeats">Steps on each batch: the first as fed, the others only to find its undisturbed time.</param>
        public void StepNext(Trainer trainer, MaeConfig config, double ratio, int repeats)
        {
            if (Done) return;
            if (!_batches.MoveNext())
            {
                Done = true;
                return;
            }
            var batch = _batches.Current;
            var times = new double[repeats];
            for (var r = 0; r < repeats; r++)
            {
                var watch = Stopwatch.StartNew();
                trainer.Step(batch.ToEmbeddingBatch());
                times[r] = watch.Elapsed.TotalSeconds;
            }
            (Batches, Seconds, FastestSeconds) = (Batches + 1, Seconds + times[0], FastestSeconds + times.Min());
            (ValidTokens, PaddedTokens) = (ValidTokens + batch.ValidTokens, PaddedTokens + batch.PaddedTokens);
            var masked = batch.Lengths.Select(l => LvMae.Model.Masking.MaskingStrategies.MaskedCount(l, ratio)).ToArray();
            ValidFlops += batch.Lengths.Select((l, i) => StepFlops(config, l - masked[i], masked[i])).Sum();
            // The model pads every sample to the batch's most visible tokens (encoder) and most targets (decoder).
            var (v, t) = (batch.Lengths.Select((l, i) => l - masked[i]).Max(), masked.Max());
            ComputedFlops += batch.Count * StepFlops(config, v, t);
        }

        public void Dispose()
        {
            _batches.Dispose();
            feed.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>LVMAE's decoder masking at the embedding level: cost of a training step as the decoder
    /// budget falls, on the default (small) preset at 256 and 1024 tokens (hour-long videos).</summary>
    private static string DecoderBudgetSection(bool quick)
    {
        const int batch = 4;
        var runs = quick ? 2 : 5;
        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine("### Decoder budget (adaptive decoder masking)");
        text.AppendLine();
        text.AppendLine($"small preset (the default), {Dim}-d, batch {batch} full-length sequences, random encoder masking 40%, 1 torch thread. The decoder sees [CLS] + visible + only the budgeted mask tokens: min(ceil(budget x length), masked) per sample (so any budget above the 40% mask ratio decodes every masked token). GFLOP/step: matmul FLOPs of the MAE's forward + backward, counted as in the table above, for the tokens really decoded (scorer excluded). ms/step: fastest of {runs} steps after a warm-up; the adaptive rows include training the scorer jointly (its own context predictor + perturbed top-k) and scoring. Peak RSS: highest process RSS sampled every 5 ms during the row (it includes memory the allocator kept from earlier rows).");
        text.AppendLine();
        text.AppendLine("| tokens | decoder targets | decoded tokens/step | MAE GFLOP/step | ms/step | peak RSS MiB |");
        text.AppendLine("|---:|---|---:|---:|---:|---:|");
        var threads = get_num_threads();
        set_num_threads(1);
        try
        {
            foreach (var tokens in new[] { 256, 1024 })
                foreach (var (mode, budget) in new[] { (DecoderMasking.All, 1.0), (DecoderMasking.Random, 0.25), (DecoderMasking.Random, 0.15), (DecoderMasking.Adaptive, 0.15) })
                {
                    using var memory = PeakMemory.Track();
                    var config = MaeConfig.FromPreset("small", Dim, tokens);
                    var options = new TrainerOptions { Model = config, AbsoluteLr = 1e-4, WarmupSteps = 0, TotalSteps = 1000, Seed = 1 };
                    using var trainer = new Trainer(options with { Adaptive = new AdaptiveOptions { DecoderMasking = mode, DecoderBudget = budget } });
                    var rng = new Random(1);
                    var data = new float[batch * tokens * Dim];
                    for (var i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
                    var embeddings = new EmbeddingBatch(data, Enumerable.Repeat(tokens, batch).ToArray(), tokens, Dim);
                    long decoded = 0;
                    var seconds = MinSeconds(runs, () => decoded = trainer.Step(embeddings).MaskedTokens);
                    var visible = tokens - LvMae.Model.Masking.MaskingStrategies.MaskedCount(tokens, 0.4);
                    var flops = StepFlops(config, visible, (int)(decoded / batch)) * batch;
                    var label = mode == DecoderMasking.All ? "all masked (100%)" : $"{mode.ToString().ToLowerInvariant()} {budget:P0}";
                    text.AppendLine($"| {tokens} | {label} | {decoded} | {flops / 1e9:F1} | {seconds * 1e3:F0} | {memory.PeakBytes / 1048576.0:F0} |");
                    Console.WriteLine($"decoder budget: {tokens} tokens, {label}: {seconds * 1e3:F0} ms/step, {flops / 1e9:F1} GFLOP, {decoded} decoded tokens");
                }
        }
        finally
        {
            set_num_threads(threads);
        }
        return text.ToString();
    }

    private static EmbeddingBatch MakeBatch(Random rng)
    {
        var data = new float[Batch * Tokens * Dim];
        for (var i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return new EmbeddingBatch(data, Enumerable.Repeat(Tokens, Batch).ToArray(), Tokens, Dim);
    }

    /// <summary>Matmul FLOPs of one training step for one sample (forward x 3).</summary>
    public static double StepFlops(MaeConfig c, int visible, int targets)
    {
        double w = c.Width, dd = c.DecoderDim, d = c.EmbeddingDim, r = c.MlpRatio;
        double se = 1 + visible, sd = 1 + visible + targets;
        static double Block(double s, double width, double ratio) => 2 * s * width * width * (3 + 1 + 2 * ratio) + 4 * s * s * width;
        var forward = c.EncoderDepth * Block(se, w, r) + c.DecoderDepth * Block(sd, dd, r)
            + (c.HasInputProjection ? 2 * visible * d * w : 0) + 2 * se * w * dd + 2 * sd * dd * d;
        return 3 * forward;
    }

    private static double MatmulFlops(int n, int runs)
    {
        using var a = randn(n, n);
        using var b = randn(n, n);
        var seconds = MinSeconds(runs, () => { using var c = a.matmul(b); });
        return 2.0 * n * n * n / seconds;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

    /// <summary>Fastest of <paramref name="runs"/> timings after one warm-up: on a shared machine the
    /// minimum is the run least disturbed by other jobs, for the step and the baseline alike.</summary>
    private static double MinSeconds(int runs, Action action)
    {
        action();
        var best = double.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return best;
    }
}
