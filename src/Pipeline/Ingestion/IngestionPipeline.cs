using System.Threading.Tasks.Dataflow;

namespace LvMae.Pipeline;

/// <summary>What happened to one input: a result, or the error that stopped it (never both).</summary>
public sealed record IngestionOutcome<TResult>(string File, TResult? Result, Exception? Error)
{
    public bool Succeeded => Error is null;
}

/// <summary>Reported after each input finishes: the outcome and the running totals.</summary>
public sealed record IngestionProgress<TResult>(IngestionOutcome<TResult> Latest, int Completed, int Failed);

/// <summary>Every outcome of a run, in completion order.</summary>
public sealed record IngestionSummary<TResult>(IReadOnlyList<IngestionOutcome<TResult>> Outcomes)
{
    public int Succeeded => Outcomes.Count(o => o.Succeeded);
    public int Failed => Outcomes.Count(o => !o.Succeeded);
    public IEnumerable<IngestionOutcome<TResult>> Failures => Outcomes.Where(o => !o.Succeeded);
}

/// <summary>
/// Bounded ingestion fan-out: files are enumerated lazily, at most <c>maxParallel</c> are processed at
/// once (hash, upload, register: whatever <c>processOne</c> does) and only a few more are queued, so a
/// directory of a million files costs no more memory than ten. An error in one file is captured in its
/// outcome and the others go on; cancellation stops enumeration and is rethrown after in-flight work ends.
/// </summary>
public static class IngestionPipeline
{
    public static async Task<IngestionSummary<TResult>> RunAsync<TResult>(
        IEnumerable<string> files,
        Func<string, CancellationToken, Task<TResult>> processOne,
        int maxParallel,
        IProgress<IngestionProgress<TResult>>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxParallel, 1);
        var outcomes = new List<IngestionOutcome<TResult>>();
        var failed = 0;

        var worker = new ActionBlock<string>(async file =>
        {
            var outcome = await ProcessAsync(file, processOne, cancellationToken);
            IngestionProgress<TResult> report;
            lock (outcomes)
            {
                outcomes.Add(outcome);
                if (!outcome.Succeeded) failed++;
                report = new IngestionProgress<TResult>(outcome, outcomes.Count, failed);
            }
            progress?.Report(report);
        }, new ExecutionDataflowBlockOptions
        {
            MaxDegreeOfParallelism = maxParallel,
            BoundedCapacity = 2 * maxParallel, // enumeration runs only a little ahead of the work
        });

        try
        {
            foreach (var file in files)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!await worker.SendAsync(file, cancellationToken)) break; // only if the worker faulted (a progress callback threw)
            }
        }
        finally
        {
            worker.Complete();
            await worker.Completion; // let in-flight items finish (or observe their cancellation) before returning
        }
        cancellationToken.ThrowIfCancellationRequested();
        return new IngestionSummary<TResult>(outcomes);
    }

    private static async Task<IngestionOutcome<TResult>> ProcessAsync<TResult>(
        string file, Func<string, CancellationToken, Task<TResult>> processOne, CancellationToken cancellationToken)
    {
        try
        {
            return new IngestionOutcome<TResult>(file, await processOne(file, cancellationToken), null);
        }
        catch (Exception e)
        {
            // Captured, never rethrown: one bad file must not stop the rest (a cancellation is rethrown by RunAsync).
            return new IngestionOutcome<TResult>(file, default, e);
        }
    }
}
