using System.Collections.Concurrent;
using LvMae.Media;
using LvMae.Storage;

namespace LvMae.Grains.Tests;

/// <summary>
/// The real media work, with injected transient failures (ToolFailed) for chosen video ids (the scratch path names the id),
/// and a record of how many downloaded sources sat in this silo's scratch folder whenever media work ran.
/// </summary>
public sealed class FlakyMediaWork(IMediaWork inner, ScratchSpace scratch) : IMediaWork
{
    /// <summary>Video id -> probe failures still to inject.</summary>
    public static readonly ConcurrentDictionary<string, int> Failures = new();

    /// <summary>Video id -> a gate its probe waits at: <see cref="Gate.Reached"/> completes when it arrives, the probe goes on when the test opens it.</summary>
    public static readonly ConcurrentDictionary<string, Gate> Gates = new();

    public sealed class Gate
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Open { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private int _maxSources;
    /// <summary>Most source files seen at once in this silo's scratch folder (must not exceed its job slots).</summary>
    public int MaxSourcesOnDisk => Volatile.Read(ref _maxSources);

    private void Observe()
    {
        var sources = Directory.EnumerateFiles(scratch.Root, "source.*", SearchOption.AllDirectories).Count();
        for (var max = MaxSourcesOnDisk; sources > max; max = MaxSourcesOnDisk)
            if (Interlocked.CompareExchange(ref _maxSources, sources, max) == max) break;
    }

    private static void MaybeFail(string path)
    {
        foreach (var id in Failures.Keys)
        {
            if (!path.Contains(id, StringComparison.Ordinal)) continue;
            lock (Failures)
            {
                if (!Failures.TryGetValue(id, out var left) || left <= 0) return;
                Failures[id] = left - 1;
            }
            throw new MediaException(path, MediaErrorKind.ToolFailed, "injected transient ffmpeg failure");
        }
    }

    public async Task<VideoInfo> InspectAsync(string path, CancellationToken cancellationToken)
    {
        Observe();
        if (Gates.FirstOrDefault(g => path.Contains(g.Key, StringComparison.Ordinal)).Value is { } gate)
        {
            gate.Reached.TrySetResult();
            await gate.Open.Task.WaitAsync(cancellationToken);
        }
        MaybeFail(path);
        return await inner.InspectAsync(path, cancellationToken);
    }

    public IReadOnlyList<SegmentSpan> Plan(double durationSeconds, double segmentSeconds) => inner.Plan(durationSeconds, segmentSeconds);

    public Task<EmbeddedVideo> EncodeAsync(string path, VideoInfo info, IReadOnlyList<SegmentSpan> plan, string encoderSpec, double segmentSeconds, IProgress<double> progress, CancellationToken cancellationToken)
    {
        Observe();
        return inner.EncodeAsync(path, info, plan, encoderSpec, segmentSeconds, progress, cancellationToken);
    }

    public (int Count, int Dimension) ValidateNpy(BlobReader content) => inner.ValidateNpy(content);
    public (int Count, int Dimension) ValidateNpy(Stream content, long length, string name) => inner.ValidateNpy(content, length, name);
}
