using System.Security.Cryptography;
using LvMae.Contracts;

namespace LvMae.Grains.Tests;

/// <summary>The registration rules without a silo: every outcome of <see cref="RegistrationDecision"/> from a stored state and a registration.</summary>
public sealed class RegistrationDecisionTests
{
    private const string Id = "v0123456789abcdef01234567";
    private static readonly ProcessingOptions Options = new();

    private static VideoRegistration Video(string encoder = "builtin", string? hash = null, params string[] labels) => new()
    {
        SourceBlob = $"videos/{Id}/source.mp4", Encoder = encoder, Labels = labels, OriginalName = "clip.mp4", SizeBytes = 1000, ContentHash = hash,
    };

    private static VideoRegistration Import(string hash, long size = 1000, byte[]? content = null, params string[] labels) => new()
    {
        Kind = VideoSourceKind.Embeddings, SourceBlob = $"videos/{Id}/embeddings/imported.npy", Encoder = "imported", Labels = labels,
        OriginalName = "clip.npy", SizeBytes = size, ContentHash = hash, Content = content,
    };

    private static VideoState Stored(VideoStage stage, string encoder = "builtin", string? hash = "aaaa", VideoSourceKind kind = VideoSourceKind.VideoFile, params string[] labels) => new()
    {
        Stage = stage, Kind = kind, Encoder = encoder, ContentHash = hash, Labels = labels.ToList(), OriginalName = "clip.mp4", SourceBlob = "videos/x/source.mp4",
        EmbeddedEncoders = stage == VideoStage.Embedded ? [encoder] : [], Attempts = 2, Version = 7,
        Failure = stage == VideoStage.Failed ? new VideoFailure { Kind = "BadEmbeddings", Message = "bad", Permanent = true } : null,
        CompletedAt = stage is VideoStage.Embedded or VideoStage.Failed ? DateTimeOffset.UnixEpoch : null,
        Probe = new VideoFileInfo { DurationSeconds = 12, FrameRate = 5, Width = 32, Height = 32, Codec = "h264" },
    };

    private static string Sha(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    [Fact]
    public void A_registration_no_state_could_accept_is_refused_with_the_reason()
    {
        Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate("bad id with spaces", Video(), Options));
        Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, Video() with { SourceBlob = " " }, Options));
        Assert.Contains("LvMae:Processing:ModelDirectory", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, Video("model:/etc/passwd"), Options)).Message);
        var many = Enumerable.Range(0, RegistrationDecision.MaxLabels + 1).Select(i => $"l{i}").ToArray();
        Assert.Contains($"at most {RegistrationDecision.MaxLabels}", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, Video(labels: many), Options)).Message);
        Assert.Contains("10000 characters", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, Video(labels: new string('x', 10_000)), Options)).Message);
        // A model spec is checked for videos only: an import's encoder is a free name.
        var import = Import("abc");
        Assert.Same(import, RegistrationDecision.Validate(Id, import, Options));
    }

    [Fact]
    public void Carried_content_must_be_an_import_within_the_size_limit_and_its_claimed_hash()
    {
        var content = new byte[] { 1, 2, 3 };
        Assert.Contains("only embeddings imports", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, Video() with { Content = content }, Options)).Message);
        var big = new byte[VideoRegistration.MaxInlineContentBytes + 1];
        Assert.Contains("upload larger imports first", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, Import(Sha(big), content: big), Options)).Message);
        Assert.Contains("not the 000000000000 it claims", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, Import(new string('0', 64), content: content), Options)).Message);

        // Hash and size come from the bytes themselves (a claimed hash may differ in case only; none at all is fine).
        var checkedOne = RegistrationDecision.Validate(Id, Import(Sha(content).ToUpperInvariant(), size: 99, content: content), Options);
        Assert.Equal(Sha(content), checkedOne.ContentHash);
        Assert.Equal(3, checkedOne.SizeBytes);
        Assert.Equal(Sha(content), RegistrationDecision.Validate(Id, Import(null!, content: content), Options).ContentHash);
    }

    [Fact]
    public void A_new_video_is_recorded_and_imported_at_once_when_its_bytes_came_along_or_it_is_small()
    {
        var video = RegistrationDecision.Decide(Id, null, Video(labels: ["a", "b", "a"]), working: false);
        Assert.Equal(RegistrationOutcome.New, video.Outcome);
        Assert.Equal(["a", "b"], video.Labels);
        Assert.False(video.ImportNow);

        Assert.True(RegistrationDecision.Decide(Id, null, Import("abc", content: [1]), false).ImportNow);
        Assert.True(RegistrationDecision.Decide(Id, null, Import("abc", size: RegistrationDecision.InlineImportBytes), false).ImportNow);
        Assert.False(RegistrationDecision.Decide(Id, null, Import("abc", size: RegistrationDecision.InlineImportBytes + 1), false).ImportNow); // queued
        Assert.False(RegistrationDecision.Decide(Id, null, Import("abc", size: 0), false).ImportNow); // size unknown: queued

        var now = DateTimeOffset.UtcNow;
        var state = video.NewState(Video("builtin", "abcd", "a", "b", "a"), now);
        Assert.Equal(VideoStage.Registered, state.Stage);
        Assert.Equal(0, state.Version); // its first commit makes it version 1
        Assert.Equal(["a", "b"], state.Labels);
        Assert.Equal(("builtin", "abcd", 1000L, "clip.mp4"), (state.Encoder, state.ContentHash, state.SizeBytes, state.OriginalName));
        Assert.Equal(now, state.RegisteredAt);
        Assert.Equal(now, state.UpdatedAt);
    }

    [Fact]
    public void The_same_video_again_changes_nothing_but_merges_new_labels()
    {
        var stored = Stored(VideoStage.Embedded, labels: ["a"]);
        var same = RegistrationDecision.Decide(Id, stored, Video("builtin", "aaaa", "a"), working: false);
        Assert.Equal(RegistrationOutcome.Unchanged, same.Outcome);
        Assert.False(same.LabelsChanged);
        Assert.Equal(RegistrationOutcome.Unchanged, RegistrationDecision.Decide(Id, stored, Video("builtin", hash: null), false).Outcome); // no hash: the same content

        var more = RegistrationDecision.Decide(Id, stored, Video("builtin", "aaaa", "b", "a"), working: false);
        Assert.Equal(RegistrationOutcome.Unchanged, more.Outcome);
        Assert.True(more.LabelsChanged);
        more.ApplyTo(stored, Video("builtin", "aaaa", "b", "a"));
        Assert.Equal(["a", "b"], stored.Labels);
        Assert.Equal((VideoStage.Embedded, 2, 7L), (stored.Stage, stored.Attempts, stored.Version)); // nothing else moved
    }

    [Fact]
    public void A_new_encoder_for_a_finished_video_processes_it_again_and_keeps_earlier_embeddings()
    {
        var stored = Stored(VideoStage.Embedded, labels: ["a"]);
        var registration = Video("resnet18", "aaaa", "b");
        var decision = RegistrationDecision.Decide(Id, stored, registration, working: false);
        Assert.Equal(RegistrationOutcome.Reprocess, decision.Outcome);
        Assert.False(decision.ImportNow);
        decision.ApplyTo(stored, registration);
        Assert.Equal(VideoStage.Registered, stored.Stage);
        Assert.Equal("resnet18", stored.Encoder);
        Assert.Equal(["a", "b"], stored.Labels);
        Assert.Equal(["builtin"], stored.EmbeddedEncoders);
        Assert.Equal((0, (VideoFailure?)null, (DateTimeOffset?)null), (stored.Attempts, stored.Failure, stored.CompletedAt));
        Assert.NotNull(stored.Probe); // kept: the next work goes on from what is known
    }

    [Fact]
    public void While_the_work_runs_another_encoder_is_refused_after_its_labels_are_merged_and_other_content_is_ignored()
    {
        var stored = Stored(VideoStage.Probed, labels: ["a"]);
        var busy = RegistrationDecision.Decide(Id, stored, Video("resnet18", "aaaa", "b"), working: true);
        Assert.Equal(RegistrationOutcome.Busy, busy.Outcome);
        Assert.True(busy.LabelsChanged);
        Assert.Equal(["a", "b"], busy.Labels);
        Assert.Contains("still being processed with encoder builtin; register resnet18 when it is done", busy.Problem);

        // The same encoder with other content while working: nothing restarts.
        Assert.Equal(RegistrationOutcome.Unchanged, RegistrationDecision.Decide(Id, stored, Video("builtin", "bbbb"), working: true).Outcome);
        // ... and when not working, other content is processed again.
        Assert.Equal(RegistrationOutcome.Reprocess, RegistrationDecision.Decide(Id, stored, Video("builtin", "bbbb"), working: false).Outcome);
    }

    [Fact]
    public void An_import_with_other_content_is_refused_unless_the_stored_one_failed()
    {
        foreach (var stage in new[] { VideoStage.Registered, VideoStage.Embedded })
        {
            var stored = Stored(stage, "imported", "aaaaaaaaaaaaaaaa", VideoSourceKind.Embeddings);
            var conflict = RegistrationDecision.Decide(Id, stored, Import("bbbbbbbbbbbbbbbb") with { OriginalName = "other.npy" }, working: stage == VideoStage.Registered);
            Assert.Equal(RegistrationOutcome.Conflict, conflict.Outcome);
            Assert.Contains("other content (sha256 aaaaaaaaaaaa); 'other.npy' (sha256 bbbbbbbbbbbb) needs another id", conflict.Problem);
        }
        // The same content is the same video.
        Assert.Equal(RegistrationOutcome.Unchanged, RegistrationDecision.Decide(Id, Stored(VideoStage.Embedded, "imported", "aaaa", VideoSourceKind.Embeddings), Import("aaaa"), false).Outcome);

        // A failed import takes new content: imported at once when it came along, queued when it was uploaded.
        var failed = Stored(VideoStage.Failed, "imported", "aaaa", VideoSourceKind.Embeddings);
        var carried = RegistrationDecision.Decide(Id, failed, Import("bbbb", content: [1]), working: false);
        Assert.Equal(RegistrationOutcome.Reprocess, carried.Outcome);
        Assert.True(carried.ImportNow);
        Assert.False(RegistrationDecision.Decide(Id, failed, Import("bbbb"), working: false).ImportNow);
        carried.ApplyTo(failed, Import("bbbb", size: 5, content: [1]));
        Assert.Equal((VideoStage.Registered, "bbbb", 5L, (VideoFailure?)null), (failed.Stage, failed.ContentHash, failed.SizeBytes, failed.Failure));
    }
    // ---- sources registered in place ----------------------------------------------------------------------------------

    private static BlobSource Blob(string etag) => new() { Account = "corpusacct", Container = "videos", Blob = "2026/a.mp4", ETag = etag, Length = 1000 };

    private static VideoRegistration InPlace(string etag, bool reembed = false, params string[] labels) => new()
    {
        SourceBlob = "videos/2026/a.mp4", InPlace = Blob(etag), Encoder = "builtin", Labels = labels, OriginalName = "2026/a.mp4", SizeBytes = 1000,
        ReplaceChangedSource = reembed,
    };

    private static VideoState StoredInPlace(VideoStage stage, string etag)
    {
        var state = Stored(stage);
        state.InPlace = Blob(etag);
        state.SourceBlob = "videos/2026/a.mp4";
        return state;
    }

    [Fact]
    public void A_registration_in_place_needs_a_video_file_a_container_a_blob_name_and_an_etag()
    {
        var good = InPlace("\"0x8DC\"");
        Assert.Same(good, RegistrationDecision.Validate(Id, good, Options));
        Assert.Contains("only video files", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, InPlace("e") with { Kind = VideoSourceKind.Embeddings }, Options)).Message);
        Assert.Contains("not a valid container name", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, InPlace("e") with { InPlace = Blob("e") with { Container = "Bad_Name" } }, Options)).Message);
        Assert.Contains("not a usable blob name", Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, InPlace("e") with { InPlace = Blob("e") with { Blob = "a\u0001b" } }, Options)).Message);
        Assert.Throws<ArgumentException>(() => RegistrationDecision.Validate(Id, InPlace(" "), Options));
    }

    [Fact]
    public void The_same_blob_again_is_unchanged_and_its_source_is_recorded_on_a_new_video()
    {
        var fresh = RegistrationDecision.Decide(Id, null, InPlace("e1"), working: false);
        Assert.Equal(RegistrationOutcome.New, fresh.Outcome);
        var state = fresh.NewState(InPlace("e1"), DateTimeOffset.UnixEpoch);
        Assert.Equal(Blob("e1"), state.InPlace);
        Assert.Null(state.ContentHash); // taken by the silo when it reads the blob

        var again = RegistrationDecision.Decide(Id, StoredInPlace(VideoStage.Embedded, "e1"), InPlace("e1", labels: "x"), working: false);
        Assert.Equal((RegistrationOutcome.Unchanged, true), (again.Outcome, again.LabelsChanged));
    }

    [Fact]
    public void A_blob_changed_since_its_registration_is_refused_unless_asked_to_reembed_and_never_while_working()
    {
        var changed = RegistrationDecision.Decide(Id, StoredInPlace(VideoStage.Embedded, "e1"), InPlace("e2"), working: false);
        Assert.Equal(RegistrationOutcome.Conflict, changed.Outcome);
        Assert.Contains("changed since it was registered (ETag e1 then, e2 now)", changed.Problem);
        Assert.Contains("--reembed-changed", changed.Problem);

        var busy = RegistrationDecision.Decide(Id, StoredInPlace(VideoStage.Segmented, "e1"), InPlace("e2", reembed: true), working: true);
        Assert.Equal(RegistrationOutcome.Busy, busy.Outcome);

        var stored = StoredInPlace(VideoStage.Embedded, "e1");
        var reembed = RegistrationDecision.Decide(Id, stored, InPlace("e2", reembed: true), working: false);
        Assert.Equal(RegistrationOutcome.Reprocess, reembed.Outcome);
        reembed.ApplyTo(stored, InPlace("e2", reembed: true));
        Assert.Equal((VideoStage.Registered, "e2", (string?)null), (stored.Stage, stored.InPlace!.ETag, stored.ContentHash));

        // A failed video whose blob changed is refused the same way: its failure says why, nothing is re-embedded silently.
        Assert.Equal(RegistrationOutcome.Conflict, RegistrationDecision.Decide(Id, StoredInPlace(VideoStage.Failed, "e1"), InPlace("e3"), working: false).Outcome);
    }
}
