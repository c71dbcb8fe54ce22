using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Dataflow;
using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>
/// The training feed, a bounded Dataflow graph:
/// <code>
/// list (per epoch: source -> filter by encoder -> sort -> seeded shuffle)
///   -> load + window (TransformMany, LoadParallelism loads, output kept in input order)
///   -> batch by samples and token budget (TokenBudgetBatchBlock)
///   -> Output (bounded) -> the trainer
/// </code>
/// Every link propagates completion, every block shares one cancellation token, and every stage is
/// bounded, so memory does not grow with the corpus (see <see cref="TrainingFeedOptions.MaxSamplesInFlight"/>).
/// A video that cannot be loaded is reported, counted and left out of that epoch; the run goes on.
/// Consume with <see cref="ReadAllAsync"/> or <see cref="LinkTo"/>, or read <see cref="Output"/> directly
/// (then cancel or dispose the feed if you stop early, or the bounded producer waits for you forever).
/// </summary>
public sealed class TrainingFeed : IAsyncDisposable
{
    private readonly IEmbeddedVideoSource _source;
    private readonly TrainingFeedOptions _options;
    private readonly IProgress<SkippedVideo>? _skipped;
    private readonly CancellationTokenSource _cancel;
    private readonly ITargetBlock<(long Epoch, EmbeddedVideoDescriptor Video)> _head;
    private readonly Task _producer;
    private int _consecutiveFailures;

    private TrainingFeed(IEmbeddedVideoSource source, IEmbeddingLoader loader, TrainingFeedOptions options,
        IProgress<SkippedVideo>? skipped, CancellationToken cancellationToken)
    {
        options.Validate();
        (_source, _options, _skipped) = (source, options, skipped);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _cancel.Token;

        var load = new TransformManyBlock<(long Epoch, EmbeddedVideoDescriptor Video), WindowedSample>(
            item => LoadAndWindowAsync(loader, item.Epoch, item.Video, token),
            new ExecutionDataflowBlockOptions
            {
                MaxDegreeOfParallelism = options.LoadParallelism,
                BoundedCapacity = options.LoadCapacity,
                EnsureOrdered = true, // parallel loads, yet samples leave in shuffle order: reproducible batches
                CancellationToken = token,
            });
        var batch = TokenBudgetBatchBlock.Create(options.MaxBatchSize, options.TokenBudget, options.Dimension,
            options.OutputCapacity, token, Stats.Emitted);
        load.LinkTo(batch, new DataflowLinkOptions { PropagateCompletion = true });

        // Encapsulate's block is receivable: the trainer may TryReceive as well as link.
        (_head, Output) = (load, (IReceivableSourceBlock<TrainingBatch>)batch);
        _producer = Task.Run(() => ProduceAsync(token), CancellationToken.None);
        Completion = CompleteAsync(batch.Completion);
    }

    /// <summary>Starts listing and loading at once; batches wait (bounded) in <see cref="Output"/> for the trainer.</summary>
    public static TrainingFeed Start(IEmbeddedVideoSource source, IEmbeddingLoader loader, TrainingFeedOptions options,
        IProgress<SkippedVideo>? skipped = null, CancellationToken cancellationToken = default) =>
        new(source, loader, options, skipped, cancellationToken);

    /// <summary>Batches in order; completes after the last epoch, faults or cancels with the feed.</summary>
    public IReceivableSourceBlock<TrainingBatch> Output { get; }

    /// <summary>Completes once the last batch of the last epoch has been taken from <see cref="Output"/>; faults or cancels with the feed.</summary>
    public Task Completion { get; }

    public TrainingFeedStats Stats { get; } = new();

    /// <summary>Stops listing and loading; buffered batches are dropped.</summary>
    public void Cancel()
    {
        try { _cancel.Cancel(); }
        catch (ObjectDisposedException) { } // already disposed: nothing left to stop
    }

    /// <summary>
    /// The batches as an async stream. Leaving the loop early (break, or an exception in the trainer's
    /// step) cancels the feed, so a failing consumer never leaves the producer blocked.
    /// Rethrows the feed's fault at the end.
    /// </summary>
    public async IAsyncEnumerable<TrainingBatch> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var finished = false;
        try
        {
            while (await Output.OutputAvailableAsync(cancellationToken))
                if (Output.TryReceive(out var next)) yield return next;
            await Completion;
            finished = true;
        }
        finally
        {
            if (!finished) Cancel();
        }
    }

    /// <summary>
    /// <see cref="ReadAllAsync"/> for a dedicated training thread (TorchSharp wants every step on one
    /// thread, never across an await): blocks that thread while waiting for the next batch.
    /// </summary>
    public IEnumerable<TrainingBatch> ReadAllBlocking(CancellationToken cancellationToken = default) =>
        ReadAllAsync(cancellationToken).ToBlockingEnumerable(cancellationToken);

    /// <summary>
    /// Links a consumer block (e.g. an ActionBlock on the training thread) with completion propagation.
    /// If the consumer faults or completes early, the feed is cancelled instead of blocking on a full buffer.
    /// </summary>
    public IDisposable LinkTo(ITargetBlock<TrainingBatch> consumer)
    {
        var link = Output.LinkTo(consumer, new DataflowLinkOptions { PropagateCompletion = true });
        consumer.Completion.ContinueWith(_ => { if (!Output.Completion.IsCompleted) Cancel(); },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return link;
    }

    public async ValueTask DisposeAsync()
    {
        Cancel();
        try { await Completion; }
        catch (Exception) { /* the outcome was the caller's to observe through Completion */ }
        _cancel.Dispose();
    }

    /// <summary>Both the producer and the graph done; a fault surfaces as its original exception, not nested AggregateExceptions.</summary>
    private async Task CompleteAsync(Task output)
    {
        var all = Task.WhenAll(_producer, output);
        try
        {
            await all;
        }
        catch (Exception) when (all.IsFaulted)
        {
            ExceptionDispatchInfo.Capture(all.Exception!.Flatten().InnerExceptions[0]).Throw();
        }
    }

    private async Task ProduceAsync(CancellationToken token)
    {
        try
        {
            var first = _options.FirstEpoch;
            for (var epoch = first; _options.Epochs is not { } epochs || epoch < first + epochs; epoch++)
            {
                var videos = await ListEpochAsync(epoch, token);
                Stats.EpochListed(epoch, videos.Count);
                if (videos.Count == 0 && _options.Epochs is null) await Task.Delay(_options.EmptyCorpusRetry, token);
                foreach (var video in videos)
                    // SendAsync waits while the load stage is full; false = the graph has faulted or been cancelled.
                    if (!await _head.SendAsync((epoch, video), token)) return;
            }
            _head.Complete();
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            _head.Complete(); // the blocks are cancelled by the same token
        }
        catch (Exception e)
        {
            _head.Fault(e);
            throw;
        }
    }

    /// <summary>This epoch's pass: the source re-listed (new videos join), sorted by id, then a seeded shuffle.</summary>
    private async Task<List<EmbeddedVideoDescriptor>> ListEpochAsync(long epoch, CancellationToken token)
    {
        var encoder = BlobLayout.EncoderFileName(_options.Encoder);
        var byId = new Dictionary<string, EmbeddedVideoDescriptor>(StringComparer.Ordinal);
        await foreach (var video in _source.ListAsync(_options.Encoder, token))
            if (BlobLayout.EncoderFileName(video.Encoder) == encoder) byId[video.VideoId] = video;
        // Sorting first makes the shuffle independent of the order the source happens to list in.
        var videos = byId.Values.OrderBy(v => v.VideoId, StringComparer.Ordinal).ToList();
        new Random(SampleSeeds.ForEpoch(_options.Seed, epoch)).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(videos));
        return videos;
    }

    private async Task<IEnumerable<WindowedSample>> LoadAndWindowAsync(
        IEmbeddingLoader loader, long epoch, EmbeddedVideoDescriptor video, CancellationToken token)
    {
        try
        {
            var embeddings = await loader.LoadAsync(video, token);
            if (embeddings.Dimension != _options.Dimension)
                throw new EmbeddingLoadException(video.VideoId,
                    $"embedding dimension {embeddings.Dimension} differs from the run's {_options.Dimension} (encoder {_options.Encoder})");
            var sample = WindowedSample.Draw(epoch, video, embeddings, _options.Window, _options.Seed);
            Stats.Loaded();
            Interlocked.Exchange(ref _consecutiveFailures, 0);
            return [sample];
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            throw; // the block ends cancelled
        }
        catch (Exception e)
        {
            // One bad video must not stop a run: report it, count it, leave it out of this epoch.
            Stats.Skipped();
            var reason = e is EmbeddingLoadException load ? load.Reason : $"{e.GetType().Name}: {e.Message}";
            _skipped?.Report(new SkippedVideo(video.VideoId, epoch, reason, e));
            if (Interlocked.Increment(ref _consecutiveFailures) >= _options.MaxConsecutiveFailures)
                throw new InvalidOperationException(
                    $"training feed: the last {_options.MaxConsecutiveFailures} loads all failed (latest: video '{video.VideoId}': {reason}); " +
                    "check the storage connection, the encoder name and the dimension", e);
            return [];
        }
    }
}
