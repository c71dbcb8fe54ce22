using System.Collections.Concurrent;
using System.Diagnostics;

namespace LvMae.Corpus.Tests;

/// <summary>
/// A small corpus rendered once for the rendering tests (real ffmpeg): 10 videos of 5-8 steps of 5-10 s
/// (about 35-70 s each), two ffmpeg processes at a time.
/// </summary>
public sealed class RenderedCorpusFixture : IAsyncLifetime
{
    public static readonly CorpusSpec Spec = CorpusSpec.Quick with
    {
        Seed = 11,
        VideoCount = 10,
        MinStepSegments = 1,
        MaxStepSegments = 2,
        Parallelism = 2,
    };

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "lvmae-corpus-test-" + Guid.NewGuid().ToString("N"));
    public CorpusManifest Manifest { get; private set; } = null!;
    public IReadOnlyList<CorpusProgress> Reports => _reports.ToArray();
    public TimeSpan GenerationTime { get; private set; }

    private readonly ConcurrentQueue<CorpusProgress> _reports = new();

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        Manifest = await SyntheticCorpus.GenerateAsync(Directory, Spec, new SyncProgress<CorpusProgress>(_reports.Enqueue));
        GenerationTime = clock.Elapsed;
    }

    public Task DisposeAsync()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }
}

/// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; posts asynchronously).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
