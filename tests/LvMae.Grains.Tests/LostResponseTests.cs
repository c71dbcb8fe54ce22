using LvMae.Contracts;
using LvMae.Grains.Index;
using Orleans.Storage;

namespace LvMae.Grains.Tests;

/// <summary>
/// Writes whose response is lost (issue 28): storage applies the write, the answer never arrives, the Azure SDK retries and
/// the retry fails its condition (ETag) against our own write. A <see cref="LvMae.Testing.LossyProxy"/>
/// in front of a real Azurite loses exactly one chosen response; the silo is real. The outcome must be resolved by reading
/// back, and no grain may report a stage storage does not hold.
/// </summary>
[Collection(LostResponseClusterCollection.Name)]
public sealed class LostResponseTests(LostResponseClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private static GrainId NewGrainId() => GrainId.Create("lvmae.video", $"lost-{Guid.NewGuid():N}");

    private static Func<LvMae.Testing.ProxiedRequest, bool> StateWrite(GrainId id) =>
        LostResponseClusterFixture.StateWriteOf(id.Key.ToString()!);

    [Fact]
    public async Task A_state_update_whose_response_is_lost_succeeds_and_the_next_write_follows_it()
    {
        var id = NewGrainId();
        var state = new GrainState<VideoState>(new VideoState { Stage = VideoStage.Registered, Version = 1 });
        await fixture.Storage.WriteStateAsync("state", id, state);

        state.State!.Stage = VideoStage.Probed;
        state.State!.Version = 2;
        var lost = fixture.Proxy.LoseResponse(StateWrite(id));
        await fixture.Storage.WriteStateAsync("state", id, state); // applied; its answer lost; the SDK's retry meets a new ETag
        await lost.WaitAsync(Timeout);

        state.State!.Stage = VideoStage.Segmented;
        state.State!.Version = 3;
        await fixture.Storage.WriteStateAsync("state", id, state); // with the adopted ETag
        Assert.Equal(3, (await fixture.PersistedAsync(id.Key.ToString()!))!.Version);
    }

    [Fact]
    public async Task A_new_record_whose_create_response_is_lost_is_created()
    {
        var id = NewGrainId();
        var state = new GrainState<VideoState>(new VideoState { Stage = VideoStage.Registered, Version = 1 });
        var lost = fixture.Proxy.LoseResponse(StateWrite(id));
        await fixture.Storage.WriteStateAsync("state", id, state); // If-None-Match: the retry meets our own blob
        await lost.WaitAsync(Timeout);
        Assert.True(state.RecordExists);

        state.State!.Version = 2;
        await fixture.Storage.WriteStateAsync("state", id, state);
        Assert.Equal(2, (await fixture.PersistedAsync(id.Key.ToString()!))!.Version);
    }

    [Fact]
    public async Task A_write_that_another_writer_beat_still_conflicts()
    {
        var id = NewGrainId();
        var ours = new GrainState<VideoState>(new VideoState { Version = 1 });
        await fixture.Storage.WriteStateAsync("state", id, ours);
        var theirs = new GrainState<VideoState>();
        await fixture.Storage.ReadStateAsync("state", id, theirs);
        theirs.State!.Version = 7;
        await fixture.Storage.WriteStateAsync("state", id, theirs);

        ours.State!.Version = 2;
        await Assert.ThrowsAsync<InconsistentStateException>(() => fixture.Storage.WriteStateAsync("state", id, ours));
        Assert.Equal(7, (await fixture.PersistedAsync(id.Key.ToString()!))!.Version);
    }

    [Fact]
    public async Task A_video_whose_stage_write_response_is_lost_goes_on_without_counting_an_attempt()
    {
        var path = await fixture.NewVideoAsync(8);
        var (id, _) = await LvMae.Client.VideoIngestor.ContentIdAsync(path);
        // Writes of its state: 0 registered, 1 attempt counted, 2 Probed, 3 Segmented, 4 Embedded. Lose the answer to Probed.
        var lost = fixture.Proxy.LoseResponse(LostResponseClusterFixture.StateWriteOf(id), skip: 2);
        await fixture.Ingestor.IngestFileAsync(path, "builtin", ["lost-probed"]);
        await lost.WaitAsync(Timeout);

        var entry = await fixture.WaitForIndexAsync(id, VideoStage.Embedded, Timeout);
        var persisted = await fixture.PersistedAsync(id);
        Assert.Equal(VideoStage.Embedded, persisted!.Stage);
        Assert.Equal(persisted.Version, entry.Version);
        // The lost answer was a success, not a failed attempt: a few of these must not use up MaxAttempts.
        Assert.Equal(1, persisted.Attempts);
        var status = await fixture.Client.GetGrain<IVideoGrain>(id).GetStatus();
        Assert.Equal(VideoStage.Embedded, status.Stage);
        Assert.False(status.Saving);
        var audit = await fixture.AuditAsync(Timeout);
        Assert.Null(audit.Error);
        Assert.Equal(0, audit.Inconsistencies);
    }

    [Fact]
    public async Task While_a_final_write_is_unanswered_the_grain_reports_the_persisted_stage_as_saving()
    {
        var path = await fixture.NewVideoAsync(8);
        var (id, _) = await LvMae.Client.VideoIngestor.ContentIdAsync(path);
        // Lose the answer to the Embedded write, then take storage away before the SDK's retry: the outcome stays unknown.
        var lost = fixture.Proxy.LoseResponse(LostResponseClusterFixture.StateWriteOf(id), skip: 4, thenDown: true);
        await fixture.Ingestor.IngestFileAsync(path, "builtin", ["lost-final"]);
        await lost.WaitAsync(Timeout);
        var grain = fixture.Client.GetGrain<IVideoGrain>(id);
        try
        {
            var saving = await WaitForAsync(grain, s => s.Saving);
            Assert.Equal(VideoStage.Segmented, saving.Stage); // storage holds Embedded, but nobody has read that back yet
            Assert.Equal(VideoStage.Segmented, (await grain.GetStatus()).Stage);
        }
        finally
        {
            fixture.Proxy.Down = false;
        }

        var entry = await fixture.WaitForIndexAsync(id, VideoStage.Embedded, Timeout);
        var done = await WaitForAsync(grain, s => s is { Stage: VideoStage.Embedded, Saving: false });
        var persisted = await fixture.PersistedAsync(id);
        Assert.Equal(VideoStage.Embedded, persisted!.Stage);
        Assert.Equal(persisted.Version, entry.Version);
        Assert.Equal(1, persisted.Attempts);
        Assert.Equal(persisted.SegmentCount, done.SegmentCount);
    }

    [Fact]
    public async Task An_index_append_whose_response_is_lost_is_written_once_and_the_log_goes_on()
    {
        var store = await fixture.ProxiedStoreAsync("lostappend");
        var log = new ShardLog(store, 5);
        await log.LoadAsync();
        await log.AppendAsync([new(Entry("a", 1), null)]);

        var lost = fixture.Proxy.LoseResponse(r => r.Method == "PUT" && r.Target.Contains(store.Container.Name, StringComparison.Ordinal)
                                                   && r.Target.Contains("comp=blocklist", StringComparison.Ordinal));
        await log.AppendAsync([new(Entry("b", 1), null), new(Entry("a", 2, VideoStage.Embedded), null)]);
        await lost.WaitAsync(Timeout);
        await log.AppendAsync([new(Entry("c", 1), null)]);

        var reloaded = new ShardLog(store, 5);
        var changes = await reloaded.LoadAsync();
        Assert.Equal(["a", "b", "a", "c"], changes.Select(c => c.Entry!.Id));
        Assert.Equal(log.LogBytes, reloaded.LogBytes);
    }

    [Fact]
    public async Task An_index_append_that_another_writer_beat_still_conflicts()
    {
        var store = await fixture.ProxiedStoreAsync("beatappend");
        var ours = new ShardLog(store, 1);
        await ours.LoadAsync();
        await ours.AppendAsync([new(Entry("a", 1), null)]);
        var theirs = new ShardLog(store, 1);
        await theirs.LoadAsync();
        await theirs.AppendAsync([new(Entry("b", 1), null)]);

        await Assert.ThrowsAsync<ShardLogConflictException>(() => ours.AppendAsync([new(Entry("c", 1), null)]));
    }

    private static VideoIndexEntry Entry(string id, long version, VideoStage stage = VideoStage.Registered) => new()
    {
        Id = id, Stage = stage, Version = version, Encoder = "builtin", UpdatedAt = DateTimeOffset.UnixEpoch.AddSeconds(version),
    };

    private static async Task<VideoStatus> WaitForAsync(IVideoGrain grain, Func<VideoStatus, bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var status = await grain.GetStatus();
            if (condition(status)) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"video {status.Id}: still {status.Stage} (saving: {status.Saving})");
            await Task.Delay(100);
        }
    }
}
