using System.Collections.Concurrent;
using LvMae.Model.Data;

namespace LvMae.Pipeline.Tests;

/// <summary>
/// A synthetic corpus whose values say where they came from: in video k, segment s has
/// dim 0 = s + 1 and dim 1 = k + 1 (never 0, so padding is recognisable), the rest 0.5.
/// </summary>
public static class TestCorpus
{
    public const string Encoder = "builtin";

    public static string Id(int k) => $"v{k:D5}";
    public static int Number(string id) => int.Parse(id[1..]);

    public static int SegmentsOf(int k) => 1 + (k * 7919) % 60;

    public static EmbeddedVideoDescriptor Descriptor(int k, int dimension, IReadOnlyDictionary<string, string>? labels = null) =>
        new(Id(k), Encoder, SegmentsOf(k), dimension, labels);

    public static LoadedEmbeddings Embeddings(int k, int dimension)
    {
        var segments = SegmentsOf(k);
        var values = new float[segments * dimension];
        for (var s = 0; s < segments; s++)
            for (var j = 0; j < dimension; j++)
                values[s * dimension + j] = j == 0 ? s + 1 : j == 1 ? k + 1 : 0.5f;
        return new LoadedEmbeddings(Id(k), values, segments, dimension);
    }

    public static (InMemoryEmbeddedVideoSource Source, InMemoryEmbeddingLoader Loader) InMemory(int videos, int dimension)
    {
        var source = new InMemoryEmbeddedVideoSource();
        var loader = new InMemoryEmbeddingLoader();
        for (var k = 0; k < videos; k++)
        {
            source.Add(Descriptor(k, dimension));
            loader.Add(Embeddings(k, dimension));
        }
        return (source, loader);
    }

    public static TrainingFeedOptions Options(int dimension, int seed = 1, long? epochs = 1) => new()
    {
        Encoder = Encoder,
        Dimension = dimension,
        Seed = seed,
        Epochs = epochs,
        MaxBatchSize = 8,
        TokenBudget = 128,
        LoadParallelism = 4,
        OutputCapacity = 2,
        Window = new DurationWindowOptions { MinSeconds = 5, MaxSeconds = 200, SegmentSeconds = 5, MaxTokens = 32 },
    };

    /// <summary>Runs a feed to the end (failing instead of hanging) and returns its batches.</summary>
    public static async Task<List<TrainingBatch>> CollectAsync(TrainingFeed feed, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        var batches = new List<TrainingBatch>();
        await foreach (var batch in feed.ReadAllAsync(cts.Token)) batches.Add(batch);
        return batches;
    }
}

/// <summary>IProgress that records synchronously (Progress&lt;T&gt; posts to the thread pool, too late for asserts).</summary>
public sealed class RecordingProgress<T> : IProgress<T>
{
    public ConcurrentQueue<T> Items { get; } = new();
    public void Report(T value) => Items.Enqueue(value);
}

/// <summary>Wraps a loader: counts concurrent loads and completed loads, optionally with a random delay.</summary>
public sealed class InstrumentedLoader(IEmbeddingLoader inner, int maxDelayMs = 0, int delaySeed = 0) : IEmbeddingLoader
{
    private readonly Random _delays = new(delaySeed);
    private int _active;
    private int _peakActive;
    private long _loaded;

    public int PeakConcurrentLoads => Volatile.Read(ref _peakActive);
    public long Loaded => Interlocked.Read(ref _loaded);

    public async Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
    {
        var active = Interlocked.Increment(ref _active);
        InterlockedMax(ref _peakActive, active);
        try
        {
            int delay;
            lock (_delays) delay = maxDelayMs > 0 ? _delays.Next(maxDelayMs + 1) : 0;
            if (delay > 0) await Task.Delay(delay, cancellationToken);
            else await Task.Yield();
            var result = await inner.LoadAsync(video, cancellationToken);
            Interlocked.Increment(ref _loaded);
            return result;
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    public static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
            if (Interlocked.CompareExchange(ref target, value, seen) == seen) return;
    }
}
