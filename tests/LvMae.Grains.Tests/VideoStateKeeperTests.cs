using LvMae.Contracts;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace LvMae.Grains.Tests;

/// <summary>
/// A video grain's persistence bookkeeping without a silo (<see cref="VideoStateKeeper"/>), over an in-memory grain storage
/// with ETags (<see cref="MemoryVideoStorage"/>) that can hold a write, fail one, play another writer, and lose writes it
/// acknowledged: what a status reports, what is published, and how a conflict or a storage that lost writes is followed.
/// </summary>
public sealed class VideoStateKeeperTests
{
    private const string Id = "v0123456789abcdef01234567";

    private readonly MemoryVideoStorage _storage = new();
    private readonly RecordedIndex _index = new();
    private readonly RecordedLog _log = new();
    private bool _deactivated;

    private VideoStateKeeper Keeper() => new(_storage, Id, _index, new VideoSaveMetrics(), _log, () => _deactivated = true);

    /// <summary>A registered video on storage (version 1), read as an activation reads it.</summary>
    private VideoStateKeeper Registered()
    {
        _storage.Put(new VideoState { Stage = VideoStage.Registered, Encoder = "builtin", Labels = ["a"], Version = 1 });
        _storage.Activate();
        return Keeper();
    }

    /// <summary>What <c>IVideoGrain.GetStatus</c> reports from the keeper (no work running).</summary>
    private static VideoStatus Status(VideoStateKeeper keeper) => VideoStatuses.From(Id, keeper.Stored, keeper.Unsaved, false, false, 0);

    [Fact]
    public async Task The_status_reports_a_change_only_once_storage_has_confirmed_its_write()
    {
        var keeper = Registered();
        _storage.State.Stage = VideoStage.Probed;
        Assert.Equal((VideoStage.Registered, false), (Status(keeper).Stage, Status(keeper).Saving));

        var held = _storage.HoldNextWrite();
        var commit = keeper.CommitAsync(mustIndex: false);
        Assert.False(commit.IsCompleted);
        Assert.Equal((VideoStage.Registered, 1L, true), (Status(keeper).Stage, keeper.Stored!.Version, Status(keeper).Saving));
        Assert.Empty(_index.Published);

        held.SetResult();
        await commit;
        Assert.Equal((VideoStage.Probed, 2L, false), (Status(keeper).Stage, keeper.Stored!.Version, Status(keeper).Saving));
        Assert.Equal(["try v2 Probed"], _index.Published); // an intermediate stage: best effort
        Assert.NotNull(keeper.Stored.UpdatedAt);

        // A storage outage: the write throws, the change stays unsaved and unpublished, the status stays on what storage holds.
        _storage.State.Stage = VideoStage.Segmented;
        _storage.FailNextWrite(new IOException("storage down"));
        await Assert.ThrowsAsync<IOException>(() => keeper.CommitAsync());
        Assert.Equal((VideoStage.Probed, 2L, true), (Status(keeper).Stage, keeper.Stored!.Version, Status(keeper).Saving));
        await keeper.EnsureIndexedAsync();
        await keeper.TryPublishAsync();
        Assert.Equal(["try v2 Probed"], _index.Published);

        await keeper.SaveAsync(); // the next attempt writes it again
        Assert.Equal((VideoStage.Segmented, 3L, false), (Status(keeper).Stage, keeper.Stored!.Version, Status(keeper).Saving));
        await keeper.EnsureIndexedAsync();
        Assert.Equal(["try v2 Probed", "ensure v3 Segmented"], _index.Published);

        // The stored copy is a copy: changing the in-memory state does not change what the status reports.
        _storage.State.Stage = VideoStage.Embedded;
        Assert.Equal(VideoStage.Segmented, Status(keeper).Stage);
    }

    [Fact]
    public async Task A_conflict_reloads_what_another_writer_stored_and_rethrows()
    {
        var keeper = Registered();
        _storage.OtherWriter(new VideoState { Stage = VideoStage.Failed, Encoder = "builtin", Labels = ["b"], Version = 7 });
        _storage.State.Stage = VideoStage.Probed;

        await Assert.ThrowsAsync<InconsistentStateException>(() => keeper.CommitAsync());
        Assert.Equal((VideoStage.Failed, 7L), (_storage.State.Stage, _storage.State.Version));
        Assert.Equal(["b"], _storage.State.Labels);
        Assert.Equal((VideoStage.Failed, 7L, false), (Status(keeper).Stage, keeper.Stored!.Version, Status(keeper).Saving));
        Assert.False(keeper.ResumeAsked); // storage holds a newer version, not fewer of ours
        Assert.False(_deactivated);
        Assert.Empty(_index.Published); // the void change was never published

        await keeper.CommitAsync(); // the reload took storage's ETag: the next write builds on the other writer's state
        Assert.Equal((VideoStage.Failed, 8L), (_storage.Record!.Stage, _storage.Record.Version));
    }

    [Fact]
    public async Task A_conflict_whose_reload_fails_deactivates_and_still_rethrows()
    {
        var keeper = Registered();
        _storage.OtherWriter(new VideoState { Stage = VideoStage.Failed, Version = 7 });
        _storage.FailNextRead(new IOException("storage down"));
        _storage.State.Stage = VideoStage.Probed;

        await Assert.ThrowsAsync<InconsistentStateException>(() => keeper.CommitAsync());
        Assert.True(_deactivated);
        Assert.Equal((VideoStage.Registered, 1L, false), (Status(keeper).Stage, keeper.Stored!.Version, Status(keeper).Saving));
        Assert.Contains(_log.Lines, l => l.Contains("reloading after a conflict failed (storage down); deactivating", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reload_that_finds_an_older_version_keeps_the_known_version_and_marks_the_state_unsaved()
    {
        var keeper = Registered();
        _storage.State.Stage = VideoStage.Segmented;
        await keeper.CommitAsync(mustIndex: false);
        var segmented = _storage.Record!.Clone(); // version 2
        _storage.State.Stage = VideoStage.Embedded;
        await keeper.CommitAsync();
        Assert.Equal(3, _storage.Record!.Version);
        _storage.LoseWritesBackTo(segmented); // a crashed storage comes back without the Embedded write it acknowledged
        keeper.AskRecheck();

        Assert.True(await keeper.ReloadAsync());
        Assert.False(keeper.RecheckAsked);
        Assert.Equal((VideoStage.Segmented, 3L), (_storage.State.Stage, _storage.State.Version)); // storage's state, the known number
        Assert.True(keeper.Unsaved);
        Assert.Equal((VideoStage.Segmented, 2L, true), (Status(keeper).Stage, keeper.Stored!.Version, Status(keeper).Saving));
        Assert.Contains(_log.Lines, l => l.Contains("storage holds Segmented (version 2) but this activation had saved Embedded (version 3)", StringComparison.Ordinal));
        var published = _index.Published.Count;
        await keeper.EnsureIndexedAsync();
        Assert.Equal(published, _index.Published.Count); // not published until saved

        await keeper.SaveAsync();
        Assert.Equal((VideoStage.Segmented, 3L), (_storage.Record!.Stage, _storage.Record.Version));
        _storage.State.Stage = VideoStage.Embedded;
        await keeper.CommitAsync(); // numbered after the lost version 3: the index takes it as newer than the lost entry
        Assert.Equal("ensure v4 Embedded", _index.Published[^1]);
    }

    [Fact]
    public async Task A_reload_that_finds_what_this_activation_saved_changes_nothing()
    {
        var keeper = Registered();
        _storage.State.Stage = VideoStage.Probed;
        await keeper.CommitAsync(mustIndex: false);
        keeper.AskRecheck();

        Assert.False(await keeper.ReloadAsync());
        Assert.False(keeper.RecheckAsked);
        Assert.False(keeper.Unsaved);
        Assert.Equal((VideoStage.Probed, 2L), (Status(keeper).Stage, keeper.Stored!.Version));
        Assert.Empty(_log.Lines);
    }

    [Fact]
    public async Task A_registration_storage_lost_entirely_is_restarted_as_Registered_and_written_again()
    {
        var keeper = Registered();
        _storage.State.Stage = VideoStage.Probed;
        _storage.State.Attempts = 2;
        await keeper.CommitAsync(mustIndex: false);
        _storage.State.MarkFailed("ToolFailed", "crashed", permanent: false);
        await keeper.CommitAsync(); // version 3
        _storage.LoseWritesBackTo(null);

        Assert.True(await keeper.ReloadAsync());
        var video = _storage.State;
        Assert.Equal((VideoStage.Registered, 3L, 0, null, null), (video.Stage, video.Version, video.Attempts, video.Failure, video.CompletedAt));
        Assert.Equal("builtin", video.Encoder); // the registration itself is kept
        Assert.Equal(["a"], video.Labels);
        Assert.True(keeper.Unsaved);
        Assert.Null(keeper.Stored);
        Assert.Equal((false, true), (Status(keeper).Exists, Status(keeper).Saving));
        Assert.Contains(_log.Lines, l => l.Contains("storage holds no state", StringComparison.Ordinal));

        await keeper.SaveAsync(); // a new record (no ETag): created
        Assert.Equal((VideoStage.Registered, 3L), (_storage.Record!.Stage, _storage.Record.Version));
        Assert.Equal((true, VideoStage.Registered, false), (Status(keeper).Exists, Status(keeper).Stage, Status(keeper).Saving));
    }

    [Fact]
    public async Task A_conflict_with_a_storage_that_lost_writes_of_ours_asks_the_work_to_resume()
    {
        var keeper = Registered();
        var registered = _storage.Record!.Clone();
        _storage.State.Stage = VideoStage.Probed;
        await keeper.CommitAsync(mustIndex: false); // version 2
        _storage.LoseWritesBackTo(registered); // storage holds version 1 again, under another ETag
        _storage.State.Stage = VideoStage.Segmented;

        await Assert.ThrowsAsync<InconsistentStateException>(() => keeper.CommitAsync(mustIndex: false)); // version 3: conflicts
        Assert.True(keeper.ResumeAsked);
        Assert.True(keeper.Unsaved); // the reload found lost writes: what it holds is saved again, numbered after them
        Assert.Equal((VideoStage.Registered, 3L), (_storage.State.Stage, _storage.State.Version));
        Assert.Equal((VideoStage.Registered, 1L), (Status(keeper).Stage, keeper.Stored!.Version));
        Assert.False(_deactivated);

        keeper.Resumed();
        Assert.False(keeper.ResumeAsked);
        await keeper.SaveAsync();
        Assert.Equal((VideoStage.Registered, 3L, false), (_storage.Record!.Stage, _storage.Record.Version, keeper.Unsaved));
    }

    [Fact]
    public void A_video_with_no_record_reports_none()
    {
        _storage.Activate();
        var keeper = Keeper();
        Assert.Null(keeper.Stored);
        Assert.Equal((false, false), (Status(keeper).Exists, Status(keeper).Saving));
    }
}

/// <summary>
/// One grain's persistent state over an in-memory record, with the blob provider's conditions: a write must carry the ETag
/// of the record it read or wrote last (or none for a new record), else <see cref="InconsistentStateException"/>.
/// </summary>
internal sealed class MemoryVideoStorage : IPersistentState<VideoState>
{
    private int _etags;
    private string? _recordEtag;
    private TaskCompletionSource? _hold;
    private Exception? _failWrite, _failRead;

    public VideoState State { get; set; } = new();
    public string? Etag { get; private set; }
    public bool RecordExists { get; private set; }

    /// <summary>What storage holds (null: no record).</summary>
    public VideoState? Record { get; private set; }

    /// <summary>Storage holds <paramref name="record"/> (a copy), as written by someone before this activation.</summary>
    public void Put(VideoState? record)
    {
        Record = record?.Clone();
        _recordEtag = record is null ? null : $"e{++_etags}";
    }

    /// <summary>Another activation (or a tool) wrote <paramref name="record"/>: this one's ETag no longer matches.</summary>
    public void OtherWriter(VideoState record) => Put(record);

    /// <summary>A crashed storage comes back holding <paramref name="older"/> (null: no record), without later writes it acknowledged.</summary>
    public void LoseWritesBackTo(VideoState? older) => Put(older);

    /// <summary>The grain's activation reads its state.</summary>
    public void Activate() => ReadStateAsync().GetAwaiter().GetResult();

    /// <summary>The next write waits until the returned source is completed (a write in flight).</summary>
    public TaskCompletionSource HoldNextWrite() => _hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void FailNextWrite(Exception e) => _failWrite = e;

    public void FailNextRead(Exception e) => _failRead = e;

    public async Task WriteStateAsync()
    {
        if (_hold is { } hold)
        {
            _hold = null;
            await hold.Task;
        }
        if (Take(ref _failWrite) is { } e) throw e;
        if (Etag != _recordEtag) throw new InconsistentStateException("ETag mismatch", _recordEtag ?? "(none)", Etag ?? "(none)");
        Put(State);
        Etag = _recordEtag;
        RecordExists = true;
    }

    public Task ReadStateAsync()
    {
        if (Take(ref _failRead) is { } e) throw e;
        State = Record?.Clone() ?? new VideoState();
        Etag = _recordEtag;
        RecordExists = Record is not null;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync()
    {
        Put(null);
        State = new VideoState();
        Etag = null;
        RecordExists = false;
        return Task.CompletedTask;
    }

    private static Exception? Take(ref Exception? field)
    {
        var e = field;
        field = null;
        return e;
    }
}

/// <summary>The index entries a keeper published, as "ensure|try v&lt;version&gt; &lt;stage&gt;".</summary>
internal sealed class RecordedIndex : IVideoIndexPublisher
{
    public List<string> Published { get; } = [];

    public void Forget() => Published.Add("forget");

    public Task EnsureAsync(VideoState video)
    {
        Published.Add($"ensure v{video.Version} {video.Stage}");
        return Task.CompletedTask;
    }

    public Task TryAsync(VideoState video)
    {
        Published.Add($"try v{video.Version} {video.Stage}");
        return Task.CompletedTask;
    }
}

/// <summary>The formatted messages logged.</summary>
internal sealed class RecordedLog : ILogger
{
    public List<string> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Add($"{logLevel}: {formatter(state, exception)}");
}
