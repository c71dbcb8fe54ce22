using LvMae.Contracts;
using Microsoft.Extensions.Logging;

namespace LvMae.Grains;

/// <summary>What the index holds for a video, derived from its persisted state alone (so the index can be rebuilt from the states).</summary>
public static class VideoIndexEntries
{
    public const int MaxFailureMessage = 300;

    public static VideoIndexEntry From(string id, VideoState s) => new()
    {
        Id = id,
        Stage = s.Stage,
        Encoder = s.Encoder,
        Labels = s.Labels.ToList(),
        EmbeddedEncoders = s.EmbeddedEncoders.ToList(),
        FailureKind = s.Failure?.Kind,
        FailureMessage = s.Failure?.Message is { Length: > MaxFailureMessage } m ? m[..MaxFailureMessage] : s.Failure?.Message,
        UpdatedAt = s.UpdatedAt ?? s.RegisteredAt ?? DateTimeOffset.UnixEpoch,
        Version = s.Version,
        SegmentCount = s.SegmentCount,
        OriginalName = s.OriginalName,
        Warning = s.Warning,
        FailurePermanent = s.Stage == VideoStage.Failed ? s.Failure?.Permanent : null,
    };
}

/// <summary>Where a video's entries go: its shard (<see cref="VideoIndexPublisher"/>), or a test's record of them.</summary>
public interface IVideoIndexPublisher
{
    /// <summary>Whatever the shard holds now, the next publish sends the entry again.</summary>
    void Forget();

    /// <summary>Until the index holds this version: publishes (with retries). Throws when it cannot.</summary>
    Task EnsureAsync(VideoState video);

    /// <summary>Best effort: a failure is logged, not thrown.</summary>
    Task TryAsync(VideoState video);
}

/// <summary>
/// Publishes one video's index entry to its shard and remembers the state version the shard is known to hold, so a version
/// is sent until the shard has it and then not again (a failed publish is retried by the next call).
/// </summary>
public sealed class VideoIndexPublisher(IGrainFactory grains, IndexLayout layout, string id, ILogger logger) : IVideoIndexPublisher
{
    private long _indexedVersion = -1;

    /// <summary>Whatever the shard holds now, the next publish sends the entry again.</summary>
    public void Forget() => _indexedVersion = -1;

    /// <summary>Until the index holds this version: publishes (with retries). Throws when it cannot; the shard asks again.</summary>
    public async Task EnsureAsync(VideoState video)
    {
        if (_indexedVersion == video.Version) return;
        var entry = VideoIndexEntries.From(id, video);
        await VideoRetries.Run(VideoRetries.IndexPublish, _ => grains.GetGrain<ICorpusIndexGrain>(layout.ShardOf(id)).Upsert(entry), CancellationToken.None);
        _indexedVersion = Math.Max(_indexedVersion, entry.Version);
    }

    /// <summary>Intermediate transitions: best effort (a later transition or the final one supersedes them).</summary>
    public async Task TryAsync(VideoState video)
    {
        try { await EnsureAsync(video); }
        catch (Exception e) when (e is not ArgumentException)
        {
            logger.LogWarning("video {Id}: index update to {Stage} failed: {Message}", id, video.Stage, e.Message);
        }
    }
}
