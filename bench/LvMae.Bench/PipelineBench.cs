using System.Diagnostics;
using System.Text;
using Azure.Storage.Blobs;
using LvMae.Formats;
using LvMae.Model;
using LvMae.Model.Training;
using LvMae.Pipeline;
using LvMae.Storage;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// The training feed (src/Pipeline): how fast it delivers batches from memory and from Azurite blobs,
/// against how fast a trainer consumes them (a fixed per-batch cost and real tiny LV-MAE steps),
/// and its peak memory as the corpus grows 10x (it must stay flat: every stage is bounded).
/// Corpus: resnet18-like 512-d embeddings, videos of 1-20 min (12-240 segments), the paper's
/// dynamic duration windows (10-1280 s, at most 256 tokens), batches of 16 within 16 x 256 tokens.
/// </summary>
public sealed class PipelineBench : IBenchSuite
{
    private const int Dim = 512;

    public string Name => "pipeline";

    public async Task<string> RunAsync(BenchContext context)
    {
        var quick = context.Quick;
        var small = quick ? 50 : 200;
        var large = small * 10;
        var md = new StringBuilder();
        md.AppendLine($"Corpus: {Dim}-d embeddings, {FeedCorpus.Standard.MinSegments}-{FeedCorpus.Standard.MaxSegments} segments a video, windows 10-1280 s (max 256 tokens), " +
                      "length-bucketed batches of at most 16 samples and 16 x 256 padded tokens, 4 parallel loads unless stated; " +
                      "windows are range-read from the Azurite blobs unless stated. " +
                      "A run reads the corpus for the given epochs. The cores are shared (Azurite, the trainer, and other work on this machine: " +
                      $"load average {LoadAverage()} at the start), so throughput rows are the median of {(quick ? 1 : 3)} runs.");
        md.AppendLine();

        await using var azurite = new AzuriteHost();
        await azurite.StartAsync();
        var container = await azurite.Fixture.NewContainerAsync("bench");
        var upload = await FeedCorpus.Standard.UploadAsync(container, large);
        md.AppendLine($"Azurite corpus: {large} videos, {upload.Bytes / 1e6:F0} MB of .npy uploaded in {upload.Seconds:F1} s " +
                      $"({upload.Bytes / 1e6 / upload.Seconds:F0} MB/s, 8 parallel uploads).");
        md.AppendLine();

        // 1. Memory as the corpus grows 10x, first (before anything else holds memory). Both corpora feed
        // the same number of samples (the small one for 10 epochs), so the GC sees the same work.
        var memoryRows = new List<(string, FeedRun)>
        {
            ($"synthetic loader, {small} videos x 10 epochs", await FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), new SyntheticLoader(), 10, consume: _ => Thread.Sleep(1))),
            ($"synthetic loader, {large} videos x 1 epoch", await FeedRun.MeasureAsync(FeedCorpus.Standard.Source(large), new SyntheticLoader(), 1, consume: _ => Thread.Sleep(1))),
            ($"Azurite, {small} videos x 10 epochs", await FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), new BlobEmbeddingLoader(container), 10, consume: _ => Thread.Sleep(1))),
            ($"Azurite, {large} videos x 1 epoch (listed from blobs)", await FeedRun.MeasureAsync(new BlobEmbeddedVideoSource(container), new BlobEmbeddingLoader(container), 1, consume: _ => Thread.Sleep(1))),
        };
        md.AppendLine("### Peak memory as the corpus grows 10x (same number of samples fed, consumer 1 ms a batch)");
        md.AppendLine();
        md.AppendLine("| corpus | samples fed | peak GC heap | peak working set | peak samples in pipeline | bound |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (label, r) in memoryRows)
            md.AppendLine($"| {label} | {r.Samples} | {r.PeakHeapBytes / 1e6:F0} MB | {r.PeakWorkingSetBytes / 1e6:F0} MB | {r.PeakSamplesInPipeline} | {r.Bound} |");
        md.AppendLine();
        var (s0, l0, s1, l1) = (memoryRows[0].Item2, memoryRows[1].Item2, memoryRows[2].Item2, memoryRows[3].Item2);
        md.AppendLine($"10x corpus -> peak GC heap x{(double)l0.PeakHeapBytes / s0.PeakHeapBytes:F2} (synthetic), x{(double)l1.PeakHeapBytes / s1.PeakHeapBytes:F2} (Azurite); " +
                      $"peak working set x{(double)l0.PeakWorkingSetBytes / s0.PeakWorkingSetBytes:F2} / x{(double)l1.PeakWorkingSetBytes / s1.PeakWorkingSetBytes:F2}. " +
                      "The GC heap includes garbage not yet collected (videos over 85 KB live on the large-object heap until a gen-2 GC); " +
                      "the samples alive in the pipeline stay under the configured bound whatever the corpus size.");
        md.AppendLine();

        // 2. Throughput: where the batches come from, with a consumer that costs nothing.
        var epochs = quick ? 2 : 4;
        var repeats = quick ? 1 : 3;
        var memoryLoader = FeedCorpus.Standard.InMemory(small);
        var rows = new List<(string, FeedRun)>
        {
            ("in-memory (corpus held in RAM)", await FeedRun.MedianAsync(repeats, () => FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), memoryLoader, epochs))),
            ("Azurite, 1 parallel load", await FeedRun.MedianAsync(repeats, () => FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), new BlobEmbeddingLoader(container), epochs, loadParallelism: 1))),
            ("Azurite, 4 parallel loads", await FeedRun.MedianAsync(repeats, () => FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), new BlobEmbeddingLoader(container), epochs))),
            ("Azurite, 8 parallel loads", await FeedRun.MedianAsync(repeats, () => FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), new BlobEmbeddingLoader(container), epochs, loadParallelism: 8))),
            ($"Azurite + LRU cache 256 MB (epoch 1 from blobs, {epochs - 1} from cache)", await FeedRun.MedianAsync(repeats, () => FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small),
                new CachingEmbeddingLoader(new BlobEmbeddingLoader(container), 256L << 20), epochs))),
        };
        md.AppendLine($"### Feed throughput, {small} videos x {epochs} epochs, consumer cost 0");
        md.AppendLine();
        md.AppendLine("| source | batches/s | valid tokens/s | padded tokens/s | samples/s | MB/s of windowed tokens fed | first batch |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (label, r) in rows)
            md.AppendLine($"| {label} | {r.BatchesPerSecond:F1} | {r.ValidTokensPerSecond:N0} | {r.PaddedTokensPerSecond:N0} | {r.SamplesPerSecond:F0} | {r.LoadedMegabytesPerSecond:F0} | {r.FirstBatchSeconds * 1000:F0} ms |");
        md.AppendLine();

        // 2b. Range reads (the blob loader's default for windows) against whole-file downloads, bytes counted on the wire,
        // on the corpus above and on hour-long videos (where a window is a small part of its video).
        var longVideos = quick ? 10 : 40;
        await FeedCorpus.Long.UploadAsync(container, longVideos);
        var counter = new ResponseBytesPolicy();
        var options = new BlobClientOptions();
        options.AddPolicy(counter, Azure.Core.HttpPipelinePosition.PerRetry);
        var counted = new BlobContainerClient(azurite.Fixture.ConnectionString, container.Name, options);
        md.AppendLine($"### Range reads vs whole files (Azurite, 4 parallel loads, {epochs} epochs, consumer cost 0)");
        md.AppendLine();
        md.AppendLine("| corpus | how a window is read | batches/s | MB downloaded per run | MB of windows fed per run | downloaded / fed | first batch |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var (corpus, videos) in new[] { (FeedCorpus.Standard, small), (FeedCorpus.Long, longVideos) })
            foreach (var (label, loader) in new (string, IEmbeddingLoader)[]
                     {
                         ("whole files (`LoadAsync`, the window cut out)", new WholeFileLoader(new BlobEmbeddingLoader(counted))),
                         ("range reads (`OpenAsync`: header once, then the window's rows)", new BlobEmbeddingLoader(counted)),
                     })
            {
                counter.Reset();
                var r = await FeedRun.MedianAsync(repeats, () => FeedRun.MeasureAsync(corpus.Source(videos), loader, epochs));
                var bytes = counter.Bytes / repeats;
                var fed = r.ValidTokens * 512.0 * 4;
                md.AppendLine($"| {videos} videos of {corpus.MinSegments * 5 / 60}-{corpus.MaxSegments * 5 / 60} min | {label} | {r.BatchesPerSecond:F1} | " +
                              $"{bytes / 1e6:F0} | {fed / 1e6:F0} | {bytes / fed:F2}x | {r.FirstBatchSeconds * 1000:F0} ms |");
            }
        md.AppendLine();
        md.AppendLine($"Bytes downloaded are the HTTP response bodies counted by a pipeline policy on the blob client (averaged over the {repeats} runs; " +
                      "the range-read loader is one instance per row, so headers are read in the first run only). Windows of 10-1280 s cover most " +
                      "of a 1-20 minute video, so there range reads save little and cost a second request for each video's first window; " +
                      "of an hour-long video a window is a small part.");
        md.AppendLine();

        // 3. Feed vs trainer: does the trainer ever wait (after the first batch)?
        var consumerEpochs = quick ? 2 : 3;
        var consumers = new List<(string, FeedRun)>
        {
            ("fixed 50 ms a batch (sleep)", await FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), new BlobEmbeddingLoader(container), consumerEpochs,
                consume: _ => Thread.Sleep(50))),
            ("fixed 20 ms a batch (sleep)", await FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), new BlobEmbeddingLoader(container), consumerEpochs,
                consume: _ => Thread.Sleep(20))),
            ("fixed 5 ms a batch (sleep)", await FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small), new BlobEmbeddingLoader(container), consumerEpochs,
                consume: _ => Thread.Sleep(5))),
            ("real LV-MAE 'tiny' steps", await FeedRun.MeasureAsync(FeedCorpus.Standard.Source(small),
                new BlobEmbeddingLoader(container), consumerEpochs, trainer: true, maxBatches: quick ? 8 : 30)),
        };
        md.AppendLine($"### Feed (Azurite, 4 parallel loads) vs trainer consumption ({small} videos, trainer on its own thread)");
        md.AppendLine();
        md.AppendLine("| consumer | batches consumed | batches/s | trainer wait after the first batch | first batch | peak samples in pipeline |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (label, r) in consumers)
            md.AppendLine($"| {label}{(r.MedianStepSeconds > 0 ? $" (median step {r.MedianStepSeconds * 1000:F0} ms)" : "")}{(r.Failure is null ? "" : $" **failed: {r.Failure}**")} | {r.Batches} | {r.BatchesPerSecond:F1} | {r.ConsumerWaitShare:P1} | {r.FirstBatchSeconds * 1000:F0} ms | {r.PeakSamplesInPipeline} |");
        md.AppendLine();
        md.AppendLine("Both loads and the trainer share this machine's cores (and Azurite's), so a real trainer step here also slows the feed; " +
                      "on 2 cores the paper-size model takes seconds a step (BRIEF: 2.3 s for 8 x 512), far slower than any feed above.");
        return md.ToString();
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";
}

/// <summary>A benchmark corpus: deterministic shapes and values per video number.</summary>
internal sealed record FeedCorpus(string Prefix, int MinSegments, int MaxSegments)
{
    /// <summary>Videos of 1-20 minutes (5 s segments).</summary>
    public static FeedCorpus Standard { get; } = new("bench", 12, 240);
    /// <summary>Videos of 1-3 hours: a window (at most 256 segments) is a small part of each.</summary>
    public static FeedCorpus Long { get; } = new("long", 720, 2160);

    private const int Dim = 512;
    private const string Encoder = "resnet18";

    public string Id(int k) => $"{Prefix}{k:D6}";
    public int Segments(int k) => MinSegments + (int)((uint)(k * 2654435761u) % (MaxSegments - MinSegments + 1));

    public static float[] Values(string id, int segments)
    {
        var rng = new Random(SampleSeeds.ForSample(0, 0, id));
        var values = new float[segments * Dim];
        for (var i = 0; i < values.Length; i++) values[i] = rng.NextSingle() - 0.5f;
        return values;
    }

    public IEmbeddedVideoSource Source(int videos) =>
        new InMemoryEmbeddedVideoSource(Enumerable.Range(0, videos).Select(k => new EmbeddedVideoDescriptor(Id(k), Encoder, Segments(k), Dim)));

    public InMemoryEmbeddingLoader InMemory(int videos)
    {
        var loader = new InMemoryEmbeddingLoader();
        for (var k = 0; k < videos; k++) loader.Add(new LoadedEmbeddings(Id(k), Values(Id(k), Segments(k)), Segments(k), Dim));
        return loader;
    }

    public async Task<(long Bytes, double Seconds)> UploadAsync(BlobContainerClient container, int videos)
    {
        var watch = Stopwatch.StartNew();
        long bytes = 0;
        // As `lvmae ingest` uploads: a bounded Parallel.ForEachAsync (an upload error stops the bench).
        await Parallel.ForEachAsync(Enumerable.Range(0, videos), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (k, ct) =>
        {
            var id = Id(k);
            using var stream = new MemoryStream();
            NpyArray.FromFloats(Values(id, Segments(k)), Segments(k), Dim).Write(stream);
            stream.Position = 0;
            Interlocked.Add(ref bytes, stream.Length);
            await container.GetBlobClient(BlobLayout.Embeddings(id, Encoder)).UploadAsync(stream, overwrite: true, ct);
        });
        return (bytes, watch.Elapsed.TotalSeconds);
    }
}

/// <summary>A loader without range reads: windows come from whole-file loads (the default <see cref="IEmbeddingLoader.OpenAsync"/>).</summary>
internal sealed class WholeFileLoader(IEmbeddingLoader inner) : IEmbeddingLoader
{
    public Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default) =>
        inner.LoadAsync(video, cancellationToken);
}

/// <summary>Counts the bytes of every HTTP response body a blob client receives.</summary>
internal sealed class ResponseBytesPolicy : Azure.Core.Pipeline.HttpPipelineSynchronousPolicy
{
    private long _bytes;
    public long Bytes => Interlocked.Read(ref _bytes);
    public void Reset() => Interlocked.Exchange(ref _bytes, 0);

    public override void OnReceivedResponse(Azure.Core.HttpMessage message)
    {
        if (message.Response.Headers.ContentLength is { } length) Interlocked.Add(ref _bytes, length);
    }
}

/// <summary>Makes embeddings on demand (no storage, nothing held): isolates the feed's own memory.</summary>
internal sealed class SyntheticLoader : IEmbeddingLoader
{
    public Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default) =>
        Task.Run(() => new LoadedEmbeddings(video.VideoId, FeedCorpus.Values(video.VideoId, video.SegmentCount), video.SegmentCount, video.Dimension),
            cancellationToken);
}

/// <summary>One measured feed run: a consumer on a dedicated thread, memory sampled meanwhile.</summary>
internal sealed record FeedRun(long Batches, long Samples, long ValidTokens, long PaddedTokens, double Seconds,
    double FirstBatchSeconds, double ConsumerWaitSeconds, long PeakHeapBytes, long PeakWorkingSetBytes, long PeakSamplesInPipeline, int Bound)
{
    /// <summary>Median seconds of a consumer step (trainer runs only).</summary>
    public double MedianStepSeconds { get; init; }
    /// <summary>Why the consumer stopped early, if it failed (reported, not thrown: the other rows still count).</summary>
    public string? Failure { get; init; }

    public double BatchesPerSecond => Batches / Seconds;
    public double SamplesPerSecond => Samples / Seconds;
    public double ValidTokensPerSecond => ValidTokens / Seconds;
    public double PaddedTokensPerSecond => PaddedTokens / Seconds;
    public double LoadedMegabytesPerSecond => ValidTokens * 512.0 * 4 / 1e6 / Seconds;
    /// <summary>Share of the time after the first batch that the consumer spent waiting for the next one.</summary>
    public double ConsumerWaitShare => ConsumerWaitSeconds / (Seconds - FirstBatchSeconds);

    /// <summary>The run with the median batch rate out of <paramref name="runs"/>.</summary>
    public static async Task<FeedRun> MedianAsync(int runs, Func<Task<FeedRun>> measure)
    {
        var results = new List<FeedRun>();
        for (var i = 0; i < runs; i++) results.Add(await measure());
        return results.OrderBy(r => r.BatchesPerSecond).ElementAt(runs / 2);
    }

    public static async Task<FeedRun> MeasureAsync(IEmbeddedVideoSource source, IEmbeddingLoader loader, int epochs,
        int loadParallelism = 4, Action<TrainingBatch>? consume = null, bool trainer = false, int? maxBatches = null)
    {
        var options = new TrainingFeedOptions { Encoder = "resnet18", Dimension = 512, Seed = 1, Epochs = epochs, LoadParallelism = loadParallelism };
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var sampler = new MemorySampler();
        var watch = Stopwatch.StartNew();
        await using var feed = TrainingFeed.Start(source, loader, options);
        long batches = 0, samples = 0, valid = 0, padded = 0;
        double waited = 0, first = 0;
        var steps = new List<double>();
        string? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var model = trainer ? TinyTrainer.Create() : null;
                var wait = Stopwatch.StartNew();
                foreach (var batch in feed.ReadAllBlocking())
                {
                    if (batches == 0) first = watch.Elapsed.TotalSeconds;
                    else waited += wait.Elapsed.TotalSeconds;
                    (batches, samples, valid, padded) = (batches + 1, samples + batch.Count, valid + batch.ValidTokens, padded + batch.PaddedTokens);
                    consume?.Invoke(batch);
                    if (model is not null) steps.Add(model.Step(batch.ToEmbeddingBatch()).Elapsed.TotalSeconds);
                    if (batches == maxBatches) break;
                    wait.Restart();
                }
            }
            catch (Exception e)
            {
                failure = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
                Console.Error.WriteLine($"pipeline bench consumer failed: {e}");
            }
        }) { IsBackground = true, Name = "bench-trainer" };
        thread.Start();
        await Task.Run(thread.Join);
        var seconds = watch.Elapsed.TotalSeconds;
        if (feed.Stats.VideosSkipped > 0) throw new InvalidOperationException($"{feed.Stats.VideosSkipped} videos skipped in a benchmark run");
        return new FeedRun(batches, samples, valid, padded, seconds, first, waited, sampler.PeakHeapBytes, sampler.PeakWorkingSetBytes,
            feed.Stats.PeakSamplesInPipeline, options.MaxSamplesInFlight)
        {
            MedianStepSeconds = steps.Count == 0 ? 0 : steps.Order().ElementAt(steps.Count / 2),
            Failure = failure,
        };
    }
}

/// <summary>Real LV-MAE steps on the 'tiny' preset (64 wide, 2 blocks): the cheapest trainer the project has.</summary>
internal static class TinyTrainer
{
    public static Trainer Create() => new(new TrainerOptions
    {
        Model = MaeConfig.FromPreset("tiny", 512),
        WarmupSteps = 5,
        TotalSteps = 1000,
    }, "cpu");
}

/// <summary>Samples the GC heap and the working set every few milliseconds; keeps the peaks.</summary>
internal sealed class MemorySampler : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public MemorySampler() => _loop = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            Sample();
            try { await Task.Delay(5, _stop.Token); } catch (OperationCanceledException) { }
        }
    });

    public long PeakHeapBytes { get; private set; }
    public long PeakWorkingSetBytes { get; private set; }

    private void Sample()
    {
        PeakHeapBytes = Math.Max(PeakHeapBytes, GC.GetTotalMemory(false));
        PeakWorkingSetBytes = Math.Max(PeakWorkingSetBytes, Environment.WorkingSet);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _loop.GetAwaiter().GetResult();
        Sample();
        _stop.Dispose();
    }
}

/// <summary>A private Azurite for the benchmark (the test fixture, started and stopped by hand).</summary>
internal sealed class AzuriteHost : IAsyncDisposable
{
    public AzuriteFixture Fixture { get; } = new();
    public Task StartAsync() => Fixture.InitializeAsync();
    public async ValueTask DisposeAsync() => await Fixture.DisposeAsync();
}
