using System.Collections.Concurrent;
using LvMae.Media;

namespace LvMae.Grains.Tests;

/// <summary>The real media work, with injected transient failures (ToolFailed) for chosen video ids (the scratch path names the id).</summary>
public sealed class FlakyMediaWork(IMediaWork inner) : IMediaWork
{
    /// <summary>Video id -> probe failures still to inject.</summary>
    public static readonly ConcurrentDictionary<string, int> Failures = new();

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
        MaybeFail(path);
        return inner.ProbeAsync(path, cancellationToken);
    }

    public IReadOnlyList<SegmentSpan> Plan(double durationSeconds, double segmentSeconds) => inner.Plan(durationSeconds, segmentSeconds);

    public Task<EmbeddedVideo> EncodeAsync(string path, string encoderSpec, double segmentSeconds, IProgress<double> progress, CancellationToken cancellationToken) =>
        inner.EncodeAsync(path, encoderSpec, segmentSeconds, progress, cancellationToken);

    public (float[] Embeddings, int Count, int Dimension) ReadNpy(Storage.BlobContent content) => inner.ReadNpy(content);
}
