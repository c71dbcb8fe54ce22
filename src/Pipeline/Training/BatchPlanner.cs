namespace LvMae.Pipeline;

/// <summary>
/// Plans an epoch's batches from its windows (in the epoch's shuffle order) before any embedding is read:
/// at most <c>maxBatchSize</c> windows a batch and count x longest window &lt;= <c>tokenBudget</c>.
/// With <c>bucketByLength</c> the windows are first sorted by length (stable: equal lengths keep the shuffle
/// order), cut into batches greedily, and the batches are then shuffled with a seed of their own, so a batch pads
/// its windows to a near-equal length (real feed batches were ~44% valid tokens in shuffle order) while the model
/// still sees long and short batches in random order. Without it, batches are cut in shuffle order.
/// A pure function of (seed, epoch, windows): a resumed run plans exactly the batches of the uninterrupted one.
/// </summary>
public sealed class BatchPlanner(int maxBatchSize, int tokenBudget, bool bucketByLength)
{
    public IReadOnlyList<PlannedBatch> Plan(int seed, long epoch, IReadOnlyList<PlannedWindow> windows)
    {
        var ordered = bucketByLength ? windows.OrderBy(w => w.Length).ToList() : windows;
        var groups = new List<List<PlannedWindow>>();
        List<PlannedWindow>? pending = null;
        var longest = 0;
        foreach (var window in ordered)
        {
            if (window.Length > tokenBudget)
                throw new ArgumentException($"video '{window.Video.VideoId}': a {window.Length}-token window exceeds the token budget {tokenBudget}");
            var fits = pending is not null && pending.Count < maxBatchSize &&
                       (long)(pending.Count + 1) * Math.Max(longest, window.Length) <= tokenBudget;
            if (!fits)
            {
                groups.Add(pending = []);
                longest = 0;
            }
            pending!.Add(window);
            longest = Math.Max(longest, window.Length);
        }
        if (bucketByLength) new Random(SampleSeeds.ForBatchOrder(seed, epoch)).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(groups));
        return groups.Select((group, index) => new PlannedBatch(epoch, index, group)).ToList();
    }
}
