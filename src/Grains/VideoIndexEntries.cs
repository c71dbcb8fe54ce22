using LvMae.Contracts;

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
