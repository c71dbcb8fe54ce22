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

    public Task<VideoInfo> ProbeAsync(string path, CancellationToken cancellationToken)
    {
        Observe();
        MaybeFail(path);
        return inner.ProbeAsync(path, cancellationToken);
    }

    public IReadOnlyList<SegmentSpan> Plan(double durationSeconds, double segmentSeconds) => inner.Plan(durationSeconds, segmentSeconds);

    public Task<EmbeddedVideo> EncodeAsync(string path, string encoderSpec, double segmentSeconds, IProgress<double> progress, CancellationToken cancellationToken)
    {
        Observe();
        return inner.EncodeAsync(path, encoderSpec, segmentSeconds, progress, cancellationToken);
    }

    public (float[] Embeddings, int Count, int Dimension) ReadNpy(BlobContent content) => inner.ReadNpy(content);
}
