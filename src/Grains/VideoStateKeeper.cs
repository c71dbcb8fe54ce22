using LvMae.Contracts;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace LvMae.Grains;

/// <summary>
/// A video grain's persistence bookkeeping, without the grain (so it is tested without a silo): the copy of what storage
/// holds (<see cref="Stored"/>, the only state a status reports), whether the in-memory state has a change storage may not
/// hold (<see cref="Unsaved"/>), and the writes, reads and index publishes of one activation. Storage is the truth: a state
/// counts (in the status, the index and the metrics) once storage has confirmed it, and a storage that lost acknowledged
/// writes is followed, never overwritten with a version number it has already used.
/// </summary>
/// <param name="state">the grain's persisted state, just read (the keeper is made at activation)</param>
/// <param name="deactivate">called when this activation can no longer trust its state (a reload after a conflict failed)</param>
public sealed class VideoStateKeeper(
    IPersistentState<VideoState> state,
    string id,
    IVideoIndexPublisher index,
    VideoSaveMetrics metrics,
    ILogger logger,
    Action deactivate)
{
    private VideoState Video => state.State; // the in-memory state the grain changes; written with state.WriteStateAsync

    /// <summary>
    /// A copy of the state as storage holds it (null: no record), so "Embedded" in a status means Embedded on storage.
    /// Replaced whole after each read and each write that storage confirmed.
    /// </summary>
    public VideoState? Stored { get; private set; } = state.RecordExists ? state.State.Clone() : null;

    /// <summary>The in-memory state has a change storage may not hold (a write in flight, failed, or unanswered).</summary>
    public bool Unsaved { get; private set; }

    /// <summary>A re-check asked for while the work ran: storage may have lost what this activation saved (a crashed storage).</summary>
    public bool RecheckAsked { get; private set; }

    /// <summary>A write found that storage had lost earlier writes of this activation: once the work ends, it starts again.</summary>
    public bool ResumeAsked { get; private set; }

    /// <summary>The work re-reads storage at its next attempt, or once it ends (<see cref="ReloadAsync"/> clears this).</summary>
    public void AskRecheck() => RecheckAsked = true;

    /// <summary>The work is being started again (what <see cref="ResumeAsked"/> asked for).</summary>
    public void Resumed() => ResumeAsked = false;

    /// <summary>Records the in-memory state as what storage holds (just read or just written).</summary>
    private void NoteStored() => Stored = state.RecordExists ? Video.Clone() : null;

    /// <summary>
    /// Reads the state storage holds. A storage that crashed can come back without writes it had acknowledged: then this
    /// activation goes on from what storage holds, numbered after the versions it lost (so their index entries are superseded,
    /// never taken for newer), and a registration storage lost entirely is written again. True when storage had lost writes.
    /// </summary>
    public async Task<bool> ReloadAsync()
    {
        RecheckAsked = false;
        var known = state.RecordExists ? Video.Clone() : null;
        await state.ReadStateAsync();
        NoteStored();
        if (known is null || (state.RecordExists && Video.Version >= known.Version)) return false;
        logger.LogWarning("video {Id}: storage holds {Stored} (version {StoredVersion}) but this activation had saved {Known} (version {KnownVersion}): storage lost acknowledged writes; continuing from what it holds",
            id, Stored?.Stage.ToString() ?? "no state", Stored?.Version, known.Stage, known.Version);
        if (!state.RecordExists)
        {
            state.State = known;
            Video.Restart(VideoStage.Registered);
        }
        Video.Version = known.Version;
        Unsaved = true; // saved by the next attempt (Process starts one)
        return true;
    }

    /// <summary>
    /// A new version of the state: saved, then published to the index. Registration, retry and the final stage wait for
    /// the index (throwing if it cannot be reached): the index is the work queue and what status reports, so a video the
    /// index does not know would never be processed or seen.
    /// </summary>
    public async Task CommitAsync(bool mustIndex = true)
    {
        if (Video.Version == 0) metrics.Registered();
        Video.UpdatedAt = DateTimeOffset.UtcNow;
        Video.Version++;
        await SaveAsync();
        if (mustIndex) await EnsureIndexedAsync();
        else await TryPublishAsync();
    }

    /// <summary>
    /// Writes the in-memory state. Unsaved until storage confirms it; a storage outage throws and leaves it unsaved (the
    /// next attempt writes it again). A conflict means storage holds another state: reloaded, then rethrown.
    /// </summary>
    public async Task SaveAsync()
    {
        Unsaved = true;
        try
        {
            await state.WriteStateAsync(); // a lost answer is resolved inside (ReadBackGrainStorage): this throws only for real conflicts
            Unsaved = false;
            NoteStored();
            metrics.Saved(Video.Encoder);
        }
        catch (InconsistentStateException)
        {
            // Another activation (or a clear) wrote this video, and what storage holds is not ours: our change is void.
            // Reload, so this activation neither serves nor builds on a state storage does not hold; the caller decides again.
            try
            {
                Unsaved = false;
                ResumeAsked = await ReloadAsync(); // storage lost writes of ours: the work starts again from what it holds
            }
            catch (Exception e)
            {
                logger.LogWarning("video {Id}: reloading after a conflict failed ({Message}); deactivating", id, e.Message);
                deactivate(); // the next activation reads storage afresh; until then Status reports the last stored state
            }
            throw;
        }
    }

    /// <summary>Whatever the shard holds now, the next publish sends the entry again.</summary>
    public void ForgetIndexed() => index.Forget();

    /// <summary>Only what storage holds is published: a change being saved waits for its write.</summary>
    public Task EnsureIndexedAsync() => Unsaved ? Task.CompletedTask : index.EnsureAsync(Video);

    /// <summary>Best effort (an intermediate stage); like <see cref="EnsureIndexedAsync"/>, only what storage holds.</summary>
    public Task TryPublishAsync() => Unsaved ? Task.CompletedTask : index.TryAsync(Video);
}
