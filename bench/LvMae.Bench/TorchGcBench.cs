using System.Diagnostics;
using System.Reflection;
using System.Text;
using LvMae.Model;
using LvMae.Model.Data;
using LvMae.Model.Training;
using LvMae.Pipeline;
using static TorchSharp.torch;

namespace LvMae.Bench;

/// <summary>
/// TorchSharp 0.107's temporary-Scalar use-after-free (src/Model/TorchGc.cs) and the guard against it, old vs new in
/// one run: (1) the crash rate of short training runs (the product's feed + Trainer, tiny preset) while another thread
/// allocates, each run in its own process (a crash can be a segfault), per mechanism; (2) the step time with a large
/// managed heap (live small objects), per mechanism, in this process.
/// </summary>
public sealed class TorchGcBench : IBenchSuite
{
    public const string ChildFlag = "--torchgc-child";
    private const string StepTimeFlag = "steptime";
    private const int Dim = 64;

    public string Name => "torchgc";

    private static readonly TorchGcMechanism[] Mechanisms = [TorchGcMechanism.None, TorchGcMechanism.NoGcRegion, TorchGcMechanism.ParkFinalizers];

    private static string Label(TorchGcMechanism m) => m switch
    {
        TorchGcMechanism.None => "none (unprotected)",
        TorchGcMechanism.NoGcRegion => "no-GC region per step (old)",
        _ => "finalizer thread parked per step (new)",
    };

    public async Task<string> RunAsync(BenchContext context)
    {
        var runs = context.Quick ? 5 : 20;
        var steps = context.Quick ? 60 : 120;
        var md = new StringBuilder();
        md.AppendLine($"### Crash rate: {steps} training steps per run, another thread allocating");
        md.AppendLine();
        md.AppendLine($"Each run is a fresh process (`LvMae.Bench {ChildFlag} MECHANISM {steps} SEED [collect]`, seeds 0, 1, ...): the product's " +
                      $"`TrainingFeed` over an in-memory corpus ({Dim}-d, 12-240 segments a video) feeding `Trainer.Step` (tiny preset, 1 torch thread, " +
                      "batches of <= 4 windows of <= 64 tokens), while an allocator thread churns 1-64 KB arrays with a rolling window of survivors " +
                      "(gen-0/1/2 collections throughout, as a busy silo's threads cause); in the second scenario a third thread also asks for a " +
                      "gen-0 collection every millisecond. A run fails on a libtorch error or when its process dies (a segfault).");
        md.AppendLine();
        md.AppendLine("| scenario | mechanism | runs failed | steps completed | failures (first line) | wall s |");
        md.AppendLine("|---|---|---:|---:|---|---:|");
        foreach (var (scenario, collect, count) in new[] { ("allocating thread", false, runs), ("allocating thread + GC.Collect(0) every ms", true, runs) })
            foreach (var mechanism in Mechanisms)
            {
                var watch = Stopwatch.StartNew();
                var results = new List<ChildResult>();
                for (var run = 0; run < count; run++)
                {
                    results.Add(await RunChildAsync(mechanism, steps, seed: run, collect));
                    Console.WriteLine($"torchgc {scenario}, {mechanism}, run {run}: {results[^1]}");
                }
                var failed = results.Where(r => !r.Ok).ToList();
                var kinds = failed.GroupBy(r => r.Failure).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()}x {g.Key}");
                md.AppendLine($"| {scenario} | {Label(mechanism)} | **{failed.Count} / {count}** | {results.Sum(r => r.Steps)} / {count * steps} | " +
                              $"{(failed.Count == 0 ? "" : string.Join("; ", kinds))} | {watch.Elapsed.TotalSeconds:F0} |");
            }
        md.AppendLine();
        md.Append(await StepTimeSectionAsync(context.Quick));
        return md.ToString();
    }

    // ---- crash rate: child processes ------------------------------------------------------------

    private sealed record ChildResult(bool Ok, int Steps, string Failure)
    {
        public override string ToString() => Ok ? $"ok, {Steps} steps" : $"FAILED after {Steps} steps: {Failure}";
    }

    private static async Task<ChildResult> RunChildAsync(TorchGcMechanism mechanism, int steps, int seed, bool collect)
    {
        var (exitCode, lines, error) = await RunSelfAsync(ChildFlag, mechanism.ToString(), steps.ToString(), seed.ToString(), collect ? "collect" : "alloc");
        var done = lines.Count(l => l.StartsWith("step ", StringComparison.Ordinal));
        if (exitCode == 0) return new ChildResult(true, done, "");
        var reason = lines.LastOrDefault(l => l.StartsWith("error ", StringComparison.Ordinal))?["error ".Length..]
                     ?? error.Split('\n').FirstOrDefault(l => l.Trim().Length > 0)?.Trim()
                     ?? "no output";
        // Exit codes above 128 are a signal: 139 = SIGSEGV, 134 = SIGABRT.
        if (exitCode > 128) reason = $"process killed by signal {exitCode - 128}: {reason}";
        return new ChildResult(false, done, reason.Length > 90 ? reason[..90] + "..." : reason);
    }

    /// <summary>This harness again, in a fresh process: its exit code, stdout lines and stderr.</summary>
    private static async Task<(int ExitCode, string[] Lines, string Error)> RunSelfAsync(params string[] args)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(Assembly.GetExecutingAssembly().Location);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries), await error);
    }

    /// <summary>One run in this (child) process: prints "step k" lines, "error ..." and exits 3 on a libtorch error.</summary>
    public static int RunChild(string[] args)
    {
        if (args[1] == StepTimeFlag) return RunStepTimeChild(args);
        var mechanism = Enum.Parse<TorchGcMechanism>(args[1]);
        var steps = int.Parse(args[2]);
        var seed = int.Parse(args[3]);
        var collect = args.Length > 4 && args[4] == "collect";
        TorchGc.Mechanism = mechanism;
        set_num_threads(1);
        using var stop = new CancellationTokenSource();
        var allocator = new Thread(() => Allocate(seed, stop.Token)) { IsBackground = true, Name = "allocator" };
        var collector = new Thread(() => { while (!stop.IsCancellationRequested) { GC.Collect(0); Thread.Sleep(1); } }) { IsBackground = true, Name = "collector" };
        allocator.Start();
        if (collect) collector.Start();
        try
        {
            var (source, loader) = Corpus(120, seed);
            var feed = TrainingFeed.Start(source, loader, new TrainingFeedOptions
            {
                Encoder = "bench", Dimension = Dim, Seed = seed, Epochs = null, MaxBatchSize = 4, TokenBudget = 4 * 64,
                Window = new DurationWindowOptions { MaxTokens = 64 }, LoadParallelism = 2,
            });
            using var trainer = new Trainer(new TrainerOptions
            {
                Model = MaeConfig.FromPreset("tiny", Dim, 64), AbsoluteLr = 1e-4, WarmupSteps = 5, TotalSteps = steps, Seed = seed,
            }, "cpu");
            foreach (var batch in feed.ReadAllBlocking())
            {
                var result = trainer.Step(batch.ToEmbeddingBatch());
                if (!double.IsFinite(result.Loss)) throw new InvalidOperationException($"loss {result.Loss} at step {result.Step}");
                Console.WriteLine($"step {result.Step}");
                if (result.Step >= steps) break;
            }
            feed.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        }
        catch (Exception e)   // a libtorch error surfaces as ExternalException, a corrupted result as anything
        {
            Console.WriteLine($"error {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            return 3;
        }
        finally
        {
            stop.Cancel();
        }
    }

    /// <summary>Garbage at ~1-64 KB a time, a rolling window of 2,000 survivors so older generations fill up too.</summary>
    private static void Allocate(int seed, CancellationToken stop)
    {
        var rng = new Random(seed);
        var survivors = new byte[2000][];
        for (long i = 0; !stop.IsCancellationRequested; i++)
        {
            var garbage = new byte[1024 + rng.Next(63 * 1024)];
            garbage[^1] = 1;
            if (i % 8 == 0) survivors[rng.Next(survivors.Length)] = garbage;
        }
    }

    private static (InMemoryEmbeddedVideoSource, InMemoryEmbeddingLoader) Corpus(int videos, int seed)
    {
        var source = new InMemoryEmbeddedVideoSource();
        var loader = new InMemoryEmbeddingLoader();
        var rng = new Random(seed);
        for (var k = 0; k < videos; k++)
        {
            var segments = 12 + rng.Next(229);
            var values = new float[segments * Dim];
            for (var i = 0; i < values.Length; i++) values[i] = rng.NextSingle() - 0.5f;
            source.Add(new EmbeddedVideoDescriptor($"gc{k:D4}", "bench", segments, Dim));
            loader.Add(new LoadedEmbeddings($"gc{k:D4}", values, segments, Dim));
        }
        return (source, loader);
    }

    // ---- step time with a large managed heap ----------------------------------------------------

    private const int Rounds = 3, StepsPerRound = 10, GrowMb = 64;

    private static async Task<string> StepTimeSectionAsync(bool quick)
    {
        var heapMb = quick ? 512 : 2048;
        var rows = new List<string>();
        foreach (var heap in new[] { 0, heapMb })
            foreach (var mechanism in Mechanisms)
            {
                var (exitCode, lines, error) = await RunSelfAsync(ChildFlag, StepTimeFlag, mechanism.ToString(), heap.ToString());
                if (exitCode != 0) throw new InvalidOperationException($"step-time child ({mechanism}, {heap} MB) failed ({exitCode}): {error}");
                double Value(string key) => double.Parse(lines.Single(l => l.StartsWith(key + " ", StringComparison.Ordinal))[(key.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                var times = lines.Where(l => l.StartsWith("time ", StringComparison.Ordinal)).Select(l => double.Parse(l[5..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
                var sorted = times.Order().ToList();
                var row = $"| {(heap == 0 ? "small" : $"{Value("heap") / 1e9:F1} GB live, +{GrowMb} MB live before every {StepsPerRound} steps")} | {Label(mechanism)} | " +
                          $"{Value("first"):F0} | {sorted[sorted.Count / 2]:F1} | {sorted[(int)(0.9 * (sorted.Count - 1))]:F1} | {sorted[^1]:F0} | {times.Sum() / 1000:F2} | " +
                          $"{(mechanism == TorchGcMechanism.ParkFinalizers ? Value("parks").ToString("F0") : "")} |";
                rows.Add(row);
                Console.WriteLine($"torchgc step time: {row}");
            }

        var md = new StringBuilder();
        md.AppendLine($"### Step time with a large managed heap (tiny preset, batch 4 x 64 tokens of {Dim}-d, 1 torch thread)");
        md.AppendLine();
        md.AppendLine($"Each row is a fresh process (`LvMae.Bench {ChildFlag} {StepTimeFlag} MECHANISM HEAP_MB`), as a silo that has been running a while " +
                      "starts a training run: the live objects are allocated first (linked lists of small objects, as caches and grain state are), " +
                      "then a trainer takes one unguarded warm-up step (JIT, libtorch), then the mechanism is switched on: its first guarded step, " +
                      $"then {Rounds} x {StepsPerRound} steps with {GrowMb} MB more live objects allocated before every {StepsPerRound} (the heap grows as a silo's does).");
        md.AppendLine();
        md.AppendLine("| managed heap | mechanism | first guarded step ms | median ms/step | p90 ms/step | max ms/step | total s of the 30 | parks |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows) md.AppendLine(row);
        md.AppendLine();
        md.AppendLine("A no-GC region starts with a full blocking collection whenever the runtime cannot find its 32 MB budget free (the step then " +
                      "waits for a mark of the whole heap: seconds at 2 GB); parking the finalizer thread costs draining the finalizer queue, a gen-0 " +
                      "collection (what was allocated since the last one, not the heap) and a hand-off, shared by the steps of up to " +
                      $"{TorchGc.MaxShare.TotalSeconds:0} s (parks: how many the measured steps took).");
        return md.ToString();
    }

    /// <summary>The step-time measurement in this (child) process: prints "heap", "first", "parks" and one "time" line per step.</summary>
    private static int RunStepTimeChild(string[] args)
    {
        var mechanism = Enum.Parse<TorchGcMechanism>(args[2]);
        var heapMb = int.Parse(args[3]);
        set_num_threads(1);
        var live = new List<Node?[]>();
        void Grow(long megabytes)
        {
            var lists = new Node?[1024];
            for (long i = 0; i < megabytes * 1024 * 1024 / Node.Bytes; i++) lists[i % lists.Length] = new Node(lists[i % lists.Length], (int)i);
            live.Add(lists);
        }

        if (heapMb > 0) Grow(heapMb);
        GC.Collect();
        Console.WriteLine(FormattableString.Invariant($"heap {GC.GetTotalMemory(true)}"));
        var rng = new Random(3);
        var data = new float[4 * 64 * Dim];
        for (var i = 0; i < data.Length; i++) data[i] = rng.NextSingle() - 0.5f;
        var batch = new EmbeddingBatch(data, [64, 64, 64, 64], 64, Dim);
        using var trainer = new Trainer(new TrainerOptions { Model = MaeConfig.FromPreset("tiny", Dim, 64), AbsoluteLr = 1e-4, WarmupSteps = 0, TotalSteps = 1000, Seed = 1 }, "cpu");
        TorchGc.Mechanism = TorchGcMechanism.None;
        trainer.Step(batch);   // JIT and libtorch warm-up, unguarded

        TorchGc.Mechanism = mechanism;
        var watch = Stopwatch.StartNew();
        trainer.Step(batch);
        Console.WriteLine(FormattableString.Invariant($"first {watch.Elapsed.TotalMilliseconds}"));
        var parks = TorchGc.Parks;
        for (var round = 0; round < Rounds; round++)
        {
            if (heapMb > 0) Grow(GrowMb);
            for (var i = 0; i < StepsPerRound; i++)
            {
                watch.Restart();
                trainer.Step(batch);
                Console.WriteLine(FormattableString.Invariant($"time {watch.Elapsed.TotalMilliseconds}"));
            }
        }
        Console.WriteLine(FormattableString.Invariant($"parks {TorchGc.Parks - parks}"));
        GC.KeepAlive(live);
        return 0;
    }

    /// <summary>One live object of the large heap, with a small payload array (~120 bytes together).</summary>
    private sealed class Node(Node? next, int value)
    {
        public const int Bytes = 128;
        public readonly Node? Next = next;
        public readonly long Value = value;
        public readonly byte[] Payload = new byte[56];
    }
}
