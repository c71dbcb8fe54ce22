namespace LvMae.Pipeline;

/// <summary>
/// Greedy, order-preserving grouping of samples into batches: a sample joins the pending batch while the
/// batch stays within the sample count and the padded-token budget (count x longest length) and the
/// epoch does not change; otherwise the pending batch is closed first. No tensors, no threads.
/// </summary>
public sealed class BatchPlanner(int maxBatchSize, int tokenBudget, int dimension)
{
    private readonly List<WindowedSample> _pending = [];
    private int _maxLength;
    private long _epoch = -1;
    private int _indexInEpoch;

    public bool HasPending => _pending.Count > 0;

    /// <summary>Whether <paramref name="sample"/> can join the pending batch (always true when none is pending).</summary>
    public bool Fits(WindowedSample sample) =>
        _pending.Count == 0 ||
        (_pending.Count < maxBatchSize && sample.Epoch == _pending[0].Epoch &&
         (long)(_pending.Count + 1) * Math.Max(_maxLength, sample.Length) <= tokenBudget);

    public void Add(WindowedSample sample)
    {
        if (!Fits(sample)) throw new InvalidOperationException("close the pending batch first (Take) when a sample does not fit");
        if (sample.Length > tokenBudget)
            throw new ArgumentException($"video '{sample.VideoId}': a {sample.Length}-token window exceeds the token budget {tokenBudget}");
        _pending.Add(sample);
        _maxLength = Math.Max(_maxLength, sample.Length);
    }

    /// <summary>Closes the pending batch.</summary>
    public TrainingBatch Take()
    {
        if (_pending.Count == 0) throw new InvalidOperationException("no pending samples");
        if (_pending[0].Epoch != _epoch) (_epoch, _indexInEpoch) = (_pending[0].Epoch, 0);
        var batch = TrainingBatch.Pack(_pending, dimension, _indexInEpoch++);
        _pending.Clear();
        _maxLength = 0;
        return batch;
    }
}
