namespace LvMae.Grains;

/// <summary>What storage holds after a conditional write whose outcome was unknown (its response was lost and the retry failed its condition).</summary>
public enum WriteReadBack
{
    /// <summary>Storage holds exactly what we wrote: the lost response was a success. Adopt the stored ETag and go on.</summary>
    Ours,
    /// <summary>Storage holds something else (or nothing): another writer won, or the write never landed. Reload and decide again.</summary>
    NotOurs,
}

/// <summary>What an index log holds after an append whose append-position check failed.</summary>
public enum AppendReadBack
{
    /// <summary>Our block is the log's whole tail from the position we expected: it was appended; continue after it.</summary>
    Appended,
    /// <summary>Our block is in the tail but other bytes are too: it is durable, yet another writer touched the log (reload).</summary>
    AppendedAmongOthers,
    /// <summary>Our block is not there: another writer appended instead (reload, then append again).</summary>
    NotAppended,
}

/// <summary>
/// The decisions that resolve a write whose outcome is unknown, by comparing what was sent with what storage holds now.
/// Storage that crashes (or a network that drops a response) can apply a write without answering it; the client's retry then
/// meets its own write as a changed ETag or append position, which looks exactly like a concurrent writer. Reading back tells
/// the two apart. Pure functions: the grains and the log only read, decide with these and commit.
/// </summary>
public static class UnknownWrites
{
    /// <summary>A state write: <paramref name="stored"/> is the stored state serialised the way the write serialised ours (null: no record).</summary>
    public static WriteReadBack ResolveStateWrite(ReadOnlySpan<byte> written, byte[]? stored) =>
        stored is not null && written.SequenceEqual(stored) ? WriteReadBack.Ours : WriteReadBack.NotOurs;

    /// <summary>
    /// An append: <paramref name="tail"/> is the log from the position the append expected. Blocks are whole JSON lines, so our
    /// block can only sit at a line start; every line carries the entry's version and time, so another writer's block equal to
    /// ours byte for byte is the same change anyway.
    /// </summary>
    public static AppendReadBack ResolveAppend(ReadOnlySpan<byte> block, ReadOnlySpan<byte> tail)
    {
        if (block.IsEmpty) return AppendReadBack.Appended;
        if (tail.SequenceEqual(block)) return AppendReadBack.Appended;
        for (var start = 0; start + block.Length <= tail.Length;)
        {
            if (tail.Slice(start, block.Length).SequenceEqual(block)) return AppendReadBack.AppendedAmongOthers;
            var next = tail[start..].IndexOf((byte)'\n');
            if (next < 0) break;
            start += next + 1;
        }
        return AppendReadBack.NotAppended;
    }
}
