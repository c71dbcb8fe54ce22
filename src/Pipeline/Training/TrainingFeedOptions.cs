using LvMae.Model.Data;

namespace LvMae.Pipeline;

/// <summary>How the training feed lists, loads, windows and batches. Every buffer is bounded by these numbers.</summary>
public sealed record TrainingFeedOptions
{
    /// <summary>Only videos embedded with this encoder are fed.</summary>
    public required string Encoder { get; init; }
    /// <summary>Embedding width d the model expects; videos of another width are skipped and reported.</summary>
    public required int Dimension { get; init; }
    /// <summary>Same seed, same batch sequence (order, windows, grouping), whatever the load parallelism.</summary>
    public int Seed { get; init; }
    /// <summary>
    /// Number of the first epoch fed: a run resumed from a checkpoint taken in epoch E starts here with E and gets
    /// exactly the batches the uninterrupted run had (from <see cref="FirstIndexInEpoch"/> on).
    /// </summary>
    public long FirstEpoch { get; init; }
    /// <summary>
    /// Batches of <see cref="FirstEpoch"/> before this position are planned but neither read nor fed: a run resumed
    /// from a checkpoint taken after batch k of its epoch sets k + 1 and reads nothing twice.
    /// </summary>
    public int FirstIndexInEpoch { get; init; }
    /// <summary>Passes over the corpus fed, from <see cref="FirstEpoch"/>; null = until cancelled.</summary>
    public long? Epochs { get; init; } = 1;
    /// <summary>Samples per batch at most (paper: 16).</summary>
    public int MaxBatchSize { get; init; } = 16;
    /// <summary>Padded tokens per batch at most: batch size x longest window &lt;= budget. Must admit one full window.</summary>
    public int TokenBudget { get; init; } = 16 * 256;
    /// <summary>
    /// Batches of similar window lengths (see <see cref="BatchPlanner"/>): each epoch's windows are drawn first, sorted
    /// by length, cut into batches and the batches shuffled, so little of a batch is padding. False: batches cut in the
    /// epoch's shuffle order (about half of every batch padding; kept as the benchmarks' baseline).
    /// </summary>
    public bool BucketByLength { get; init; } = true;
    /// <summary>Embedding blobs loaded concurrently.</summary>
    public int LoadParallelism { get; init; } = 4;
    /// <summary>Finished batches waiting for the trainer.</summary>
    public int OutputCapacity { get; init; } = 2;
    /// <summary>Dynamic duration sampling (the window's MaxTokens caps a sample's length).</summary>
    public DurationWindowOptions Window { get; init; } = new();
    /// <summary>
    /// This many failed loads in a row, with no success between them, fault the feed: that is storage
    /// down or a wrong encoder/dimension, not a few bad videos, and skipping forever would starve the trainer silently.
    /// </summary>
    public int MaxConsecutiveFailures { get; init; } = 100;
    /// <summary>With unlimited epochs, how long to wait before listing an empty corpus again.</summary>
    public TimeSpan EmptyCorpusRetry { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Load stage capacity: queued + loading + loaded-but-not-yet-batched samples.</summary>
    internal int LoadCapacity => 2 * LoadParallelism;

    /// <summary>
    /// The most loaded samples alive in the feed, from load to the trainer taking their batch: the load
    /// stage, the batcher's input, its pending batch, one batch being handed over and the output buffer.
    /// It does not grow with the corpus.
    /// </summary>
    public int MaxSamplesInFlight => LoadCapacity + MaxBatchSize * (3 + OutputCapacity);

    public void Validate()
    {
        static void Require(bool ok, string message) { if (!ok) throw new ArgumentException($"training feed: {message}"); }
        Require(!string.IsNullOrWhiteSpace(Encoder), "Encoder is required");
        Require(Dimension > 0, $"Dimension must be positive (got {Dimension})");
        Require(FirstEpoch >= 0, $"FirstEpoch must not be negative (got {FirstEpoch})");
        Require(FirstIndexInEpoch >= 0, $"FirstIndexInEpoch must not be negative (got {FirstIndexInEpoch})");
        Require(Epochs is null or > 0, $"Epochs must be positive or null for unlimited (got {Epochs})");
        Require(MaxBatchSize > 0, $"MaxBatchSize must be positive (got {MaxBatchSize})");
        Require(LoadParallelism > 0, $"LoadParallelism must be positive (got {LoadParallelism})");
        Require(OutputCapacity > 0, $"OutputCapacity must be positive (got {OutputCapacity})");
        Require(MaxConsecutiveFailures > 0, $"MaxConsecutiveFailures must be positive (got {MaxConsecutiveFailures})");
        Require(Window.MaxTokens > 0, $"Window.MaxTokens must be positive (got {Window.MaxTokens})");
        Require(TokenBudget >= Window.MaxTokens,
            $"TokenBudget {TokenBudget} is below Window.MaxTokens {Window.MaxTokens}: a full-length window would fit no batch");
    }
}
