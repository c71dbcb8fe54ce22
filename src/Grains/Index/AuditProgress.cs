using LvMae.Contracts;

namespace LvMae.Grains.Index;

/// <summary>A running audit's counters (<see cref="CorpusAuditGrain"/>; updated from many threads, snapshots are read on the grain).</summary>
public sealed class AuditProgress(AuditRequest request, DateTimeOffset started)
{
    /// <summary>Problem lines a report keeps (the counters count them all).</summary>
    public const int MaxProblems = 100;

    public readonly AuditRequest Request = request;
    public readonly DateTimeOffset StartedAt = started;
    public int States, IndexEntries, Missing, Stale, Phantom, Repaired, BlobProblems, Orphans, Unfinished, Failed, LogDiffers, ShardLogsRead, Ahead;
    private readonly List<string> _ahead = [];

    public void NoteAhead(string id) { lock (_ahead) _ahead.Add(id); }

    public List<string> AheadIds() { lock (_ahead) return [.. _ahead]; }
    public DateTimeOffset? FinishedAt;
    public string? Error;
    private readonly List<string> _problems = [];

    public void Problem(string line)
    {
        lock (_problems) if (_problems.Count < MaxProblems) _problems.Add(line);
    }

    public AuditReport Snapshot()
    {
        lock (_problems)
            return new AuditReport
            {
                Request = Request, StartedAt = StartedAt, FinishedAt = FinishedAt, States = States, IndexEntries = IndexEntries,
                Missing = Missing, Stale = Stale, Phantom = Phantom, Repaired = Repaired, BlobProblems = BlobProblems, Orphans = Orphans,
                Problems = _problems.ToList(), Error = Error, Unfinished = Unfinished, Failed = Failed, LogDiffers = LogDiffers, ShardLogsRead = ShardLogsRead, Ahead = Ahead,
            };
    }
}
