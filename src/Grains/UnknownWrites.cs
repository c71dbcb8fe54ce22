namespace LvMae.Grains;

/// <summary>What storage holds after a conditional write whose outcome was unknown (its response was lost and the retry failed its condition).</summary>
public enum WriteReadBack
{
    /// <summary>Storage holds exactly what we wrote: the lost response was a success. Adopt the stored ETag and go on.</summary>
    Ours,
    /// <summary>Storage holds something else (or nothing): another writer won, or the write never landed. Reload and decide again.</summary>
    NotOurs,
}

/// <summary>What an index log holds after a commit whose ETag check failed.</summary>
public enum AppendReadBack
{
    /// <summary>The committed list is the one we sent: our blocks were appended; continue after them.</summary>
    Appended,
    /// <summary>Our blocks are committed but the list differs otherwise: durable, yet another writer touched the log (reload).</summary>
    AppendedAmongOthers,
    /// <summary>Our blocks are not committed: another writer committed instead (reload, then append again).</summary>
    NotAppended,
}

/// <summary>
/// The decisions that resolve a write whose outcome is unknown, by comparing what was sent with what storage holds now.
/// Storage that crashes (or a network that drops a response) can apply a write without answering it; the client's retry then
/// meets its own write as a changed ETag, which looks exactly like a concurrent writer. Reading back tells
/// the two apart. Pure functions: the grains and the log only read, decide with these and commit.
/// </summary>
public static class UnknownWrites
{
    /// <summary>A state write: <paramref name="stored"/> is the stored state serialised the way the write serialised ours (null: no record).</summary>
    public static WriteReadBack ResolveStateWrite(ReadOnlySpan<byte> written, byte[]? stored) =>
        stored is not null && written.SequenceEqual(stored) ? WriteReadBack.Ours : WriteReadBack.NotOurs;

    /// <summary>
    /// A log commit: <paramref name="before"/> is the block list the commit extended, <paramref name="ours"/> the ids it added,
    /// <paramref name="committed"/> the list storage holds now (null: no log). A block id hashes its place and its lines, so
    /// finding ours proves these lines were committed there; any other difference means another writer committed too.
    /// </summary>
    public static AppendReadBack ResolveCommit(IReadOnlyList<string> before, IReadOnlyList<string> ours, IReadOnlyList<string>? committed)
    {
        if (committed is null) return AppendReadBack.NotAppended;
        if (committed.Count == before.Count + ours.Count && committed.Take(before.Count).SequenceEqual(before, StringComparer.Ordinal)
            && committed.Skip(before.Count).SequenceEqual(ours, StringComparer.Ordinal))
            return AppendReadBack.Appended;
        if (ours.Count == 0) return AppendReadBack.AppendedAmongOthers;
        for (var start = 0; start + ours.Count <= committed.Count; start++)
            if (committed.Skip(start).Take(ours.Count).SequenceEqual(ours, StringComparer.Ordinal)) return AppendReadBack.AppendedAmongOthers;
        return AppendReadBack.NotAppended;
    }
}
