using LvMae.Contracts;
using LvMae.Media;
using Microsoft.Extensions.Logging.Abstractions;

namespace LvMae.Grains.Tests;

/// <summary>The video's persisted state and its attempt bookkeeping without a silo: what storage holds, how a state changes, how attempts are counted.</summary>
public sealed class VideoStateTests
{
    /// <summary>A Failed state as the grain wrote it before the split (state-lvmae.video/&lt;id&gt;.json), byte for byte.</summary>
    private static readonly string Written = string.Concat("""
        {"stage":"Failed","kind":"VideoFile","sourceBlob":"videos/v1/source.mp4","encoder":"builtin","encoderVersion":"builtin-1",
        "labels":["a","b"],"originalName":"clip.mp4","sizeBytes":1234,"contentHash":"abcd",
        "probe":{"durationSeconds":12.5,"frameRate":5,"width":32,"height":24,"codec":"h264"},"segmentCount":3,"dimension":16,
        "embeddingsBlob":"videos/v1/embeddings/builtin.npy","embeddingsSha256":"ef01","warning":null,"embeddedEncoders":["builtin"],
        "attempts":2,"failure":{"kind":"ToolFailed","message":"crashed","permanent":false,"at":"2026-12-01T10:00:00+00:00"},
        "registeredAt":"2026-12-01T09:00:00+00:00","updatedAt":"2026-12-01T10:00:00+00:00","completedAt":"2026-12-01T10:00:00+00:00","version":6}
        """.Split('\n').Select(line => line.Trim()));

    [Fact]
    public void A_state_written_before_the_split_loads_and_serialises_to_the_same_bytes()
    {
        var json = new GrainStateJson();
        var state = json.Deserialize<VideoState>(BinaryData.FromString(Written));
        Assert.Equal((VideoStage.Failed, "ToolFailed", 6L, 24), (state.Stage, state.Failure!.Kind, state.Version, state.Probe!.Height));
        // The read-back after a lost write response compares bytes (UnknownWrites.ResolveStateWrite): they must not drift.
        Assert.Equal(Written, json.Serialize(state).ToString());
        Assert.Equal(Written, json.Serialize(state.Clone()).ToString());
        Assert.NotSame(state.Labels, state.Clone().Labels);
    }

    [Fact]
    public void Embedded_failed_and_restarted_each_change_the_state_in_one_step()
    {
        var video = new VideoState { Stage = VideoStage.Segmented, Encoder = "builtin", Attempts = 2, EmbeddedEncoders = ["resnet18"] };
        video.MarkEmbedded(new Embedding("videos/v1/embeddings/builtin.npy", 3, 16, "builtin-1", "ef01", Warning: "truncated"));
        Assert.Equal((VideoStage.Embedded, "videos/v1/embeddings/builtin.npy", "ef01", 3, 16, "builtin-1"),
            (video.Stage, video.EmbeddingsBlob, video.EmbeddingsSha256, video.SegmentCount, video.Dimension, video.EncoderVersion));
        Assert.Equal(["resnet18", "builtin"], video.EmbeddedEncoders);
        Assert.NotNull(video.CompletedAt);
        Assert.Null(video.Warning); // a video's warning is the grain's to set (imports have none)
        video.MarkEmbedded(new Embedding("x", 1, 1, "v", null));
        Assert.Equal(["resnet18", "builtin"], video.EmbeddedEncoders); // once per encoder

        video.MarkFailed("NotMedia", "not a video", permanent: true);
        Assert.Equal(VideoStage.Failed, video.Stage);
        Assert.Equal(("NotMedia", "not a video", true), (video.Failure!.Kind, video.Failure.Message, video.Failure.Permanent));
        Assert.Equal(video.Failure.At, video.CompletedAt);

        VideoFailures.MarkFailed(video, new MediaException("clip.mp4", MediaErrorKind.ToolFailed, "crashed"));
        Assert.Equal(("ToolFailed", "crashed", false), (video.Failure!.Kind, video.Failure.Message, video.Failure.Permanent));

        video.Restart(VideoStage.Probed);
        Assert.Equal((VideoStage.Probed, 0, (VideoFailure?)null, (DateTimeOffset?)null), (video.Stage, video.Attempts, video.Failure, video.CompletedAt));
        Assert.Equal("x", video.EmbeddingsBlob); // what was embedded stays
    }

    private static readonly ProcessingOptions Fast = new() { MaxAttempts = 3, RetryBaseDelay = TimeSpan.FromMilliseconds(5), MaxRetryDelay = TimeSpan.FromMilliseconds(20) };

    [Fact]
    public async Task An_attempt_a_storage_outage_interrupted_is_counted_once_and_transient_media_errors_use_up_the_attempts()
    {
        var video = new VideoState { Kind = VideoSourceKind.VideoFile, Attempts = 1 };
        var retries = VideoRetries.For(Fast, () => video, NullLogger.Instance, "v1");
        var calls = 0;
        await VideoRetries.Run(retries.Work, _ => ++calls == 1 ? throw new Azure.RequestFailedException(503, "busy") : Task.CompletedTask, CancellationToken.None);
        Assert.Equal(2, calls);
        Assert.True(retries.TakeOutageInterruption());
        Assert.False(retries.TakeOutageInterruption()); // once

        // A transient media error is retried while the persisted attempts are below MaxAttempts (each attempt counts itself).
        calls = 0;
        await Assert.ThrowsAsync<MediaException>(() => VideoRetries.Run(retries.Work, _ =>
        {
            calls++;
            video.Attempts++;
            throw new MediaException("clip.mp4", MediaErrorKind.ToolFailed, "crashed");
        }, CancellationToken.None));
        Assert.Equal(2, calls); // attempts 2 and 3
        Assert.False(retries.TakeOutageInterruption());

        // Imports: no media retries, and an outage is not an interrupted attempt (they count none).
        var import = new VideoState { Kind = VideoSourceKind.Embeddings };
        var importRetries = VideoRetries.For(Fast, () => import, NullLogger.Instance, "v2");
        calls = 0;
        await Assert.ThrowsAsync<MediaException>(() => VideoRetries.Run(importRetries.Work, _ =>
        {
            if (++calls == 1) throw new Azure.RequestFailedException(503, "busy");
            throw new MediaException("x.npy", MediaErrorKind.ToolFailed, "crashed");
        }, CancellationToken.None));
        Assert.Equal(2, calls);
        Assert.False(importRetries.TakeOutageInterruption());
    }
}
