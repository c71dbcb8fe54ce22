using LvMae.Contracts;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace LvMae.Grains;

/// <summary>Persisted state of one index shard: the entries by video id.</summary>
public sealed class CorpusIndexState
{
    public Dictionary<string, VideoIndexEntry> Videos { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// One shard of the corpus index. Reentrant so concurrent upserts share one blob write (group commit): every upsert
/// returns only after a write that includes it has succeeded. Queries run over the in-memory entries (never video grains),
/// with the summary and the id order cached until the next change.
/// </summary>
[Reentrant]
[GrainType("lvmae.corpus-index")]
public sealed class CorpusIndexGrain(
    [PersistentState("state", LvMaeStorage.GrainStorageName)] IPersistentState<CorpusIndexState> state,
    ILogger<CorpusIndexGrain> logger) : Grain, ICorpusIndexGrain
{
    private TaskCompletionSource? _pending;
    private Task? _writer;
    private CorpusSummary? _summary;
    private string[]? _sortedIds;
    /// <summary>In-memory entries not yet in a successful write.</summary>
    private bool _dirty;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Entries deserialize with the default comparer; keep ordinal.
        if (state.State.Videos.Comparer != StringComparer.Ordinal)
            state.State.Videos = new Dictionary<string, VideoIndexEntry>(state.State.Videos, StringComparer.Ordinal);
        return Task.CompletedTask;
    }

    public Task Upsert(VideoIndexEntry entry)
    {
        var videos = state.State.Videos;
        var exists = videos.TryGetValue(entry.Id, out var existing);
        // Older transitions arriving late are ignored; unchanged re-publications (activations) cost no write...
        if (!exists || (existing!.Version <= entry.Version && !entry.SameAs(existing)))
        {
            if (!exists) _sortedIds = null;
            videos[entry.Id] = entry;
            _summary = null;
            _dirty = true;
        }
        // ...unless the last write failed: then the caller's retry must not return before the shard is durable.
        return _dirty ? FlushAsync() : Task.CompletedTask;
    }

    private Task FlushAsync()
    {
        _pending ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = _pending.Task;
        if (_writer is null || _writer.IsCompleted) _writer = WriteLoopAsync();
        return task;
    }

    private async Task WriteLoopAsync()
    {
        while (_pending is { } batch)
        {
            _pending = null;
            _dirty = false; // this write carries every change applied so far
            try
            {
                await state.WriteStateAsync();
                batch.SetResult();
            }
            catch (Exception e)
            {
                _dirty = true;
                logger.LogWarning(e, "corpus index shard {Shard}: write failed", this.GetPrimaryKeyLong());
                batch.SetException(e);
                if (e is Orleans.Storage.InconsistentStateException)
                {
                    // Another activation wrote this shard: reload on the next activation.
                    DeactivateOnIdle();
                }
            }
        }
    }

    public Task<CorpusSummary> Summary() => Task.FromResult(_summary ??= Compute());

    private CorpusSummary Compute()
    {
        var summary = new CorpusSummary { Total = state.State.Videos.Count };
        long segments = 0;
        foreach (var e in state.State.Videos.Values)
        {
            summary.ByStage[e.Stage] = summary.ByStage.GetValueOrDefault(e.Stage) + 1;
            foreach (var enc in e.EmbeddedEncoders) summary.ByEncoder[enc] = summary.ByEncoder.GetValueOrDefault(enc) + 1;
            foreach (var label in e.Labels) summary.ByLabel[label] = summary.ByLabel.GetValueOrDefault(label) + 1;
            if (e.Stage == VideoStage.Failed)
            {
                var kind = e.FailureKind ?? "Unknown";
                summary.FailuresByKind[kind] = summary.FailuresByKind.GetValueOrDefault(kind) + 1;
            }
            if (e.Stage == VideoStage.Embedded) segments += e.SegmentCount;
        }
        return summary with { Segments = segments };
    }

    public Task<VideoPage> Query(VideoQuery query)
    {
        var ids = _sortedIds ??= state.State.Videos.Keys.Order(StringComparer.Ordinal).ToArray();
        var start = 0;
        if (query.After is { } after)
        {
            start = Array.BinarySearch(ids, after, StringComparer.Ordinal);
            start = start >= 0 ? start + 1 : ~start;
        }
        var items = new List<VideoIndexEntry>();
        var matching = 0;
        var limit = Math.Max(0, query.Limit);
        // Matching counts every match (all pages); items are those after 'After', up to Limit.
        for (var i = 0; i < ids.Length; i++)
        {
            var e = state.State.Videos[ids[i]];
            if (!Matches(e, query)) continue;
            matching++;
            if (i >= start && items.Count < limit) items.Add(e);
        }
        return Task.FromResult(new VideoPage { Items = items, Matching = matching });
    }

    private static bool Matches(VideoIndexEntry e, VideoQuery q) =>
        (q.Stage is null || e.Stage == q.Stage) &&
        (q.Encoder is null || e.Encoder == q.Encoder || e.EmbeddedEncoders.Contains(q.Encoder)) &&
        (q.Label is null || e.Labels.Contains(q.Label)) &&
        (q.StaleBefore is null || (e.Stage is not (VideoStage.Embedded or VideoStage.Failed) && e.UpdatedAt < q.StaleBefore));

    public Task<VideoIndexEntry?> Get(string videoId) =>
        Task.FromResult(state.State.Videos.GetValueOrDefault(videoId));
}
