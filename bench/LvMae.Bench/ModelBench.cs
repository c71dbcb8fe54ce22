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
        text.Append(FeedBatchSection(quick));
        text.Append(DecoderBudgetSection(quick));
        return Task.FromResult(text.ToString());
    }

    /// <summary>
    /// Training throughput on real feed batches, through the product's path: <see cref="TrainingFeed"/> (product defaults:
    /// at most 16 windows of 10-1280 s, 16 x 256 padded tokens) over a corpus of 1-20 minute videos, into
    /// <see cref="Trainer.Step"/> at the base preset; length-bucketed batches against batches cut in shuffle order
    /// (<see cref="TrainingFeedOptions.BucketByLength"/> off), both over the same epochs, hence the same windows.
    /// Valid-token FLOPs count each window's own matmuls (its visible tokens in the encoder, its visible + masked in the
    /// decoder), never the padding; the baseline is the same matmul as above, measured right before each pass.
    /// </summary>
    private static string FeedBatchSection(bool quick)
    {
        // One torch thread: the step and the matmul baseline alike; on a shared machine two libtorch workers contend with
        // other jobs and their ratio measures the contention (see the 2-thread rows above), not the padding.
        var threads = get_num_threads();
        set_num_threads(1);
        try { return FeedBatchPasses(quick); }
        finally { set_num_threads(threads); }
    }

    private static string FeedBatchPasses(bool quick)
    {
        var videos = quick ? 48 : 160;
        var epochs = quick ? 1 : 2;
        var config = MaeConfig.FromPreset("base", Dim);
        var source = FeedCorpus.Source(videos);
        var loader = FeedCorpus.InMemory(videos);
        var rows = new List<FeedPass>();
        using var trainer = new Trainer(new TrainerOptions { Model = config, AbsoluteLr = 1e-4, WarmupSteps = 0, TotalSteps = 100_000, Seed = 1 }, "cpu");
        var ratio = ((LvMae.Model.Masking.RandomMasking)trainer.Masking).Ratio;
        trainer.Step(new EmbeddingBatch(new float[16 * 128 * Dim].Select((_, i) => (float)Math.Sin(i)).ToArray(), Enumerable.Repeat(128, 16).ToArray(), 128, Dim)); // warm-up
        for (var epoch = 0; epoch < epochs; epoch++)
            foreach (var bucketed in new[] { false, true })
            {
                var matmul = MatmulFlops(quick ? 1024 : 2048, quick ? 3 : 5);
                var options = new TrainingFeedOptions { Encoder = "resnet18", Dimension = Dim, Seed = 1, FirstEpoch = epoch, Epochs = 1, BucketByLength = bucketed };
                var pass = new FeedPass(bucketed, matmul);
                var feed = TrainingFeed.Start(source, loader, options);
                foreach (var batch in feed.ReadAllBlocking())
                {
                    var watch = Stopwatch.StartNew();
                    trainer.Step(batch.ToEmbeddingBatch());
                    pass.Add(batch, watch.Elapsed.TotalSeconds, config, ratio);
                }
                feed.DisposeAsync().AsTask().GetAwaiter().GetResult();
                rows.Add(pass);
                Console.WriteLine($"feed batches, epoch {epoch}, bucketed {bucketed}: {pass.Batches} batches, {pass.ValidShare:P0} valid, " +
                                  $"{pass.ValidFlops / pass.Seconds / 1e9:F1} valid GFLOP/s = {pass.ValidFlops / pass.Seconds / matmul:P0} of matmul {matmul / 1e9:F1}");
            }

        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine("### Real feed batches (base preset, through the training feed and `Trainer.Step`)");
        text.AppendLine();
        text.AppendLine($"`TrainingFeed` with the product's defaults (at most 16 windows of 10-1280 s, at most 256 tokens, 16 x 256 padded tokens a batch) over " +
                        $"{videos} in-memory videos of {FeedCorpus.MinSegments}-{FeedCorpus.MaxSegments} segments ({Dim}-d), every batch of {epochs} epoch(s) into " +
                        $"`Trainer.Step` (base preset, random masking, {get_num_threads()} torch threads), once with batches cut in shuffle order " +
                        "(`BucketByLength = false`, the feed before length bucketing) and once length-bucketed (the default): the same windows either way. " +
                        "Valid-token FLOPs: each window's own matmul FLOPs (forward + backward, counted as above on its own visible / masked tokens), " +
                        "never the padding; computed FLOPs: what the model ran on the padded batch. Baseline: the matmul above, measured right before each pass.");
        text.AppendLine();
        text.AppendLine("| epoch | batches | valid tokens | valid share | step s | computed GFLOP/s | valid GFLOP/s | matmul GFLOP/s | **valid / matmul** |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            text.AppendLine($"| {i / 2} {(r.Bucketed ? "length-bucketed" : "shuffle order")} | {r.Batches} | {r.ValidTokens:N0} | {r.ValidShare:P0} | {r.Seconds:F1} | " +
                            $"{r.ComputedFlops / r.Seconds / 1e9:F1} | {r.ValidFlops / r.Seconds / 1e9:F1} | {r.Matmul / 1e9:F1} | **{r.ValidFlops / r.Seconds / r.Matmul:P0}** |");
        }
        double Share(bool bucketed) => rows.Where(r => r.Bucketed == bucketed).Sum(r => r.ValidFlops / r.Seconds / r.Matmul) / epochs;
        text.AppendLine();
        text.AppendLine($"Mean over the epochs: valid-token FLOP/s **{Share(true):P0}** of the matmul's with length bucketing, {Share(false):P0} in shuffle order " +
                        $"(x{Share(true) / Share(false):F2}). Computed FLOP/s counts the padding the model processes; valid / computed is what the padding costs.");
        return text.ToString();
    }

    /// <summary>One pass of the feed through the trainer: step time and FLOPs, valid and computed.</summary>
    private sealed class FeedPass(bool bucketed, double matmul)
    {
        public bool Bucketed { get; } = bucketed;
        public double Matmul { get; } = matmul;
        public int Batches { get; private set; }
        public long ValidTokens { get; private set; }
        public long PaddedTokens { get; private set; }
        public double Seconds { get; private set; }
        public double ValidFlops { get; private set; }
        public double ComputedFlops { get; private set; }
        public double ValidShare => (double)ValidTokens / PaddedTokens;

        public void Add(TrainingBatch batch, double seconds, MaeConfig config, double ratio)
        {
            (Batches, Seconds) = (Batches + 1, Seconds + seconds);
            (ValidTokens, PaddedTokens) = (ValidTokens + batch.ValidTokens, PaddedTokens + batch.PaddedTokens);
            var masked = batch.Lengths.Select(l => LvMae.Model.Masking.MaskingStrategies.MaskedCount(l, ratio)).ToArray();
            ValidFlops += batch.Lengths.Select((l, i) => StepFlops(config, l - masked[i], masked[i])).Sum();
            // The model pads every sample to the batch's most visible tokens (encoder) and most targets (decoder).
            var (v, t) = (batch.Lengths.Select((l, i) => l - masked[i]).Max(), masked.Max());
            ComputedFlops += batch.Count * StepFlops(config, v, t);
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
