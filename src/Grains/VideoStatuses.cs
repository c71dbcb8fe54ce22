using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains;

/// <summary>What a video's status reports: the state storage holds, with its activation's live work beside it.</summary>
public static class VideoStatuses
{
    /// <summary>
    /// <paramref name="stored"/>: the state as storage holds it (null: no record), so "Embedded" means Embedded on storage;
    /// <paramref name="saving"/>: a change is being saved; <paramref name="working"/>, <paramref name="queued"/> and
    /// <paramref name="progress"/>: the activation's work, waiting for a job slot or encoding.
    /// </summary>
    public static VideoStatus From(string id, VideoState? stored, bool saving, bool working, bool queued, double progress) => stored is null
        ? new VideoStatus { Id = id, Exists = false, Saving = saving }
        : new VideoStatus
        {
            Id = id,
            Exists = true,
            Saving = saving,
            Stage = stored.Stage,
            Encoder = stored.Encoder,
            EncoderVersion = stored.EncoderVersion,
            Labels = stored.Labels.ToList(),
            OriginalName = stored.OriginalName,
            Kind = stored.Kind,
            Working = working,
            Queued = working && queued,
            Progress = stored.Stage == VideoStage.Embedded ? 1.0 : progress,
            Attempts = stored.Attempts,
            Failure = stored.Failure,
            Probe = stored.Probe,
            SegmentCount = stored.SegmentCount,
            Dimension = stored.Dimension,
            EmbeddingsBlob = stored.EmbeddingsBlob,
            SegmentsBlob = stored.Stage is VideoStage.Embedded && stored.Kind == VideoSourceKind.VideoFile ? BlobLayout.Segments(id) : null,
            EmbeddedEncoders = stored.EmbeddedEncoders.ToList(),
            RegisteredAt = stored.RegisteredAt,
            UpdatedAt = stored.UpdatedAt,
            CompletedAt = stored.CompletedAt,
            SourceBlob = stored.SourceBlob,
            InPlace = stored.InPlace,
            Warning = stored.Warning,
        };
}
