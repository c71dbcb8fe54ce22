using LvMae.Contracts;
using LvMae.Grains.Index;
using LvMae.Storage;

namespace LvMae.Grains.Tests;

/// <summary>The audit's pure parts without a silo: the data-blob check (<see cref="AuditBlobChecks"/>), the live-vs-log differences and their problem line (<see cref="IndexLogCheck"/>), the progress's report.</summary>
public sealed class AuditChecksTests
{
    private static VideoState Embedded(VideoSourceKind kind = VideoSourceKind.VideoFile) => new()
    {
        Stage = VideoStage.Embedded, Kind = kind, Encoder = "builtin", EmbeddingsBlob = "videos/v1/embeddings.npy", EmbeddingsSha256 = "abc",
        SegmentCount = 12, Dimension = 768, Version = 4,
    };

    private static BlobEntry Blob(string sha = "abc", string rows = "12", string dim = "768", string spec = "builtin") =>
        new("videos/v1/embeddings.npy", 100, "etag", null, new Dictionary<string, string> { ["sha256"] = sha, ["rows"] = rows, ["dimension"] = dim, ["encoderspec"] = spec });

    [Fact]
    public void Blobs_that_agree_with_the_state_have_no_problems()
    {
        Assert.Empty(AuditBlobChecks.Problems(Embedded(), Blob(), segmentsMissing: false));
        // A blob without metadata: only the content hash the state recorded is held against it.
        var bare = Blob() with { Metadata = new Dictionary<string, string>() };
        Assert.Equal(["videos/v1/embeddings.npy holds other content (sha256 none) than the state recorded (abc)"], AuditBlobChecks.Problems(Embedded(), bare, segmentsMissing: false));
        var noSha = Embedded();
        noSha.EmbeddingsSha256 = null;
        Assert.Empty(AuditBlobChecks.Problems(noSha, bare, segmentsMissing: false));
    }

    [Fact]
    public void Each_disagreement_is_named()
    {
        Assert.Equal(
        [
            "videos/v1/embeddings.npy holds other content (sha256 def) than the state recorded (abc)",
            "videos/v1/embeddings.npy has 11 rows, the state 12 segments",
            "videos/v1/embeddings.npy has dimension 512, the state 768",
            "videos/v1/embeddings.npy was made by encoder other, the state says builtin",
            "segments.json is missing",
        ], AuditBlobChecks.Problems(Embedded(), Blob("def", "11", "512", "other"), segmentsMissing: true));
    }

    [Fact]
    public void An_import_is_not_held_to_its_encoder_spec_and_a_missing_blob_is_named()
    {
        Assert.Empty(AuditBlobChecks.Problems(Embedded(VideoSourceKind.Embeddings), Blob(spec: "other"), segmentsMissing: false));
        Assert.Equal(["embeddings blob videos/v1/embeddings.npy is missing"], AuditBlobChecks.Problems(Embedded(), null, segmentsMissing: false));
        var none = Embedded();
        none.EmbeddingsBlob = null;
        Assert.Equal(["embeddings blob (none recorded) is missing"], AuditBlobChecks.Problems(none, null, segmentsMissing: false));
    }

    private static VideoIndexEntry Entry(string id, long version, VideoStage stage = VideoStage.Registered) => new()
    {
        Id = id, Stage = stage, Version = version, Encoder = "builtin", UpdatedAt = DateTimeOffset.UnixEpoch.AddSeconds(version),
    };

    [Fact]
    public void Differences_are_entries_on_one_side_only_or_unlike_and_only_the_asked_ids_when_given()
    {
        var live = new Dictionary<string, VideoIndexEntry> { ["same"] = Entry("same", 1), ["newer"] = Entry("newer", 3), ["live-only"] = Entry("live-only", 1) };
        var logged = new IndexShard();
        logged.Apply(Entry("same", 1));
        logged.Apply(Entry("newer", 2));
        logged.Apply(Entry("log-only", 1));

        var all = IndexLogCheck.Differences(live, logged, null);
        Assert.Equal(["live-only", "log-only", "newer"], all.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((3L, 2L), (all["newer"].Live!.Version, all["newer"].Logged!.Version));
        Assert.Null(all["live-only"].Logged);
        Assert.Null(all["log-only"].Live);

        var only = IndexLogCheck.Differences(live, logged, ["same", "log-only", "nowhere"]);
        Assert.Equal(["log-only"], only.Keys);
    }

    [Fact]
    public void A_difference_line_names_the_live_the_logged_and_the_state()
    {
        Assert.Equal("v1: the live index (what the API serves) has Embedded (version 3), the index log in storage has no entry, the video state says nothing (no state) (shard 5)",
            IndexLogCheck.DiffersLine("v1", Entry("v1", 3, VideoStage.Embedded), null, null, 5));
        Assert.Equal("v1: the live index (what the API serves) has no entry, the index log in storage has Registered (version 1), the video state says Embedded (version 4) (shard 0)",
            IndexLogCheck.DiffersLine("v1", null, Entry("v1", 1), Embedded(), 0));
    }

    [Fact]
    public void Progress_keeps_at_most_its_problem_lines_and_reports_its_counters()
    {
        var p = new AuditProgress(new AuditRequest { Repair = true }, DateTimeOffset.UnixEpoch);
        for (var i = 0; i < AuditProgress.MaxProblems + 5; i++) p.Problem($"problem {i}");
        p.Missing = 3;
        p.NoteAhead("v9");

        var report = p.Snapshot();
        Assert.Equal(AuditProgress.MaxProblems, report.Problems.Count);
        Assert.Equal("problem 0", report.Problems[0]);
        Assert.Equal(3, report.Missing);
        Assert.True(report.Request.Repair);
        Assert.Equal(["v9"], p.AheadIds());
    }
}
