using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Dataflow;
using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>
/// The training feed, a bounded Dataflow graph:
/// <code>
/// list (per epoch: source -> filter by encoder -> sort -> seeded shuffle)
///   -> plan (draw every video's window from its segment count, then BatchPlanner: batches by length and budget)
///   -> load the planned windows (TransformBlock, LoadParallelism loads, output kept in plan order; only the rows
///      a window covers are read where the loader can: BlobEmbeddingLoader range reads)
///   -> reassemble the planned batches (PlannedBatchBlock)
///   -> Output (bounded) -> the trainer
/// </code>
/// Every link propagates completion, every block shares one cancellation token, and every stage is
/// bounded, so memory does not grow with the corpus (see <see cref="TrainingFeedOptions.MaxSamplesInFlight"/>;
/// an epoch's plan holds a few numbers per video, no embeddings).
/// A video that cannot be loaded is reported, counted and left out of that epoch; the run goes on.
/// Consume with <see cref="ReadAllAsync"/> or <see cref="LinkTo"/>, or read <see cref="Output"/> directly
/// (then cancel or dispose the feed if you stop early, or the bounded producer waits for you forever).
/// </summary>
public sealed class TrainingFeed : IAsyncDisposable
{
    private readonly IEmbeddedVideoSource _source;
    private readonly IEmbeddingLoader _loader;
    private readonly TrainingFeedOptions _options;
    private readonly BatchPlanner _planner;
    private readonly IProgress<SkippedVideo>? _skipped;
    private readonly CancellationTokenSource _cancel;
    private readonly ITargetBlock<(PlannedBatch Batch, PlannedWindow Window)> _head;
    private readonly Task _producer;
    /// <summary>Segment counts learned from headers, for videos the source lists without one (read once, not every epoch).</summary>
    private readonly ConcurrentDictionary<string, int> _learnedSegments = new(StringComparer.Ordinal);
    private int _consecutiveFailures;
    /// <summary>Set once too many loads failed in a row: the feed's fault, raised in plan order by the batch block.</summary>
    private volatile InvalidOperationException? _fault;

    private TrainingFeed(IEmbeddedVideoSource source, IEmbeddingLoader loader, TrainingFeedOptions options,
        IProgress<SkippedVideo>? skipped, CancellationToken cancellationToken)
    {
        options.Validate();
        (_source, _loader, _options, _skipped) = (source, loader, options, skipped);
        _planner = new BatchPlanner(options.MaxBatchSize, options.TokenBudget, options.BucketByLength);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _cancel.Token;

        var load = new TransformBlock<(PlannedBatch Batch, PlannedWindow Window), LoadedWindow>(
            item => LoadWindowAsync(item.Batch, item.Window, token),
            new ExecutionDataflowBlockOptions
            {
                MaxDegreeOfParallelism = options.LoadParallelism,
                BoundedCapacity = options.LoadCapacity,
                EnsureOrdered = true, // parallel loads, yet windows leave in plan order: batches reassemble in order
                CancellationToken = token,
            });
        var batch = PlannedBatchBlock.Create(options.MaxBatchSize, options.Dimension, options.OutputCapacity, token, Stats.Emitted);
        load.LinkTo(batch, new DataflowLinkOptions { PropagateCompletion = true });
        // A fault raised downstream (a load fault raised in plan order, a broken batch) stops the loads and the producer
        // too: otherwise the load stage fills up and the producer waits on it forever.
        batch.Completion.ContinueWith(t => ((IDataflowBlock)load).Fault(t.Exception!.InnerException!),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

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
                var windows = await PlanWindowsAsync(epoch, videos, token);
                foreach (var batch in _planner.Plan(_options.Seed, epoch, windows))
                {
                    if (epoch == first && batch.IndexInEpoch < _options.FirstIndexInEpoch) continue; // fed before a resumed run's checkpoint
                    foreach (var window in batch.Windows)
                        // SendAsync waits while the load stage is full; false = the graph has faulted or been cancelled.
                        if (!await _head.SendAsync((batch, window), token)) return;
                }
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

    /// <summary>
    /// Every video's window for this epoch, in shuffle order. A window needs only the segment count: from the source
    /// (the corpus index records it), else from the video's header, read once per feed (LoadParallelism at a time).
    /// A video whose header cannot be read, or that has another width, is reported and left out of this epoch.
    /// </summary>
    private async Task<List<PlannedWindow>> PlanWindowsAsync(long epoch, List<EmbeddedVideoDescriptor> videos, CancellationToken token)
    {
        var segments = new int[videos.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, videos.Count),
            new ParallelOptions { MaxDegreeOfParallelism = _options.LoadParallelism, CancellationToken = token },
            async (i, ct) => segments[i] = await SegmentCountAsync(epoch, videos[i], ct));
        var windows = new List<PlannedWindow>(videos.Count);
        for (var i = 0; i < videos.Count; i++)
            if (segments[i] > 0) windows.Add(PlannedWindow.Draw(_options.Seed, epoch, videos[i], segments[i], _options.Window));
        return windows;
    }

    /// <summary>The video's segment count, or 0 when it cannot be fed this epoch (reported).</summary>
    private async ValueTask<int> SegmentCountAsync(long epoch, EmbeddedVideoDescriptor video, CancellationToken token)
    {
        if (video.Dimension > 0 && video.Dimension != _options.Dimension)
        {
            if (Skip(epoch, video, new EmbeddingLoadException(video.VideoId, WidthMismatch(video.Dimension))) is { } tooMany) throw tooMany;
            return 0;
        }
        if (video.SegmentCount > 0) return video.SegmentCount;
        if (_learnedSegments.TryGetValue(video.VideoId, out var known)) return known;
        try
        {
            var rows = await _loader.OpenAsync(video, token);
            if (rows.Dimension != _options.Dimension) throw new EmbeddingLoadException(video.VideoId, WidthMismatch(rows.Dimension));
            Interlocked.Exchange(ref _consecutiveFailures, 0);
            return _learnedSegments[video.VideoId] = rows.SegmentCount;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            if (Skip(epoch, video, e) is { } tooMany) throw tooMany;
            return 0;
        }
    }

    private async Task<LoadedWindow> LoadWindowAsync(PlannedBatch batch, PlannedWindow planned, CancellationToken token)
    {
        if (_fault is { } fault) return new LoadedWindow(batch, null, fault); // the feed is stopping: load nothing more
        var video = planned.Video;
        try
        {
            var rows = await _loader.OpenAsync(video, token);
            if (rows.Dimension != _options.Dimension) throw new EmbeddingLoadException(video.VideoId, WidthMismatch(rows.Dimension));
            if (rows.SegmentCount != planned.Window.Segments)
            {
                _learnedSegments.TryRemove(video.VideoId, out _); // learned afresh next epoch
                throw new EmbeddingLoadException(video.VideoId,
                    $"{rows.SegmentCount} segments where {planned.Window.Segments} were planned (the embeddings changed since listing)");
            }
            var sample = await WindowedSample.ReadAsync(batch.Epoch, planned, rows, token);
            Stats.Loaded();
            Interlocked.Exchange(ref _consecutiveFailures, 0);
            return new LoadedWindow(batch, sample);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            throw; // the block ends cancelled
        }
        catch (Exception e)
        {
            // Not thrown here: a throwing load lets later windows overtake this one (the ordered block skips a faulted
            // item), so the fault travels with the window and the batch block raises it in plan order.
            return new LoadedWindow(batch, null, Skip(batch.Epoch, video, e));
        }
    }

    private string WidthMismatch(int dimension) =>
        $"embedding dimension {dimension} differs from the run's {_options.Dimension} (encoder {_options.Encoder})";

    /// <summary>
    /// One bad video must not stop a run: report it, count it, leave it out of this epoch. Many failures in a row
    /// (storage down, a wrong encoder) fault the feed instead: the returned exception, for the caller to raise.
    /// </summary>
    private InvalidOperationException? Skip(long epoch, EmbeddedVideoDescriptor video, Exception e)
    {
        Stats.Skipped();
        var reason = e is EmbeddingLoadException load ? load.Reason : $"{e.GetType().Name}: {e.Message}";
        _skipped?.Report(new SkippedVideo(video.VideoId, epoch, reason, e));
        if (Interlocked.Increment(ref _consecutiveFailures) < _options.MaxConsecutiveFailures) return null;
        return _fault ??= new InvalidOperationException(
                $"training feed: the last {_options.MaxConsecutiveFailures} loads all failed (latest: video '{video.VideoId}': {reason}); " +
                "check the storage connection, the encoder name and the dimension", e);
    }
}
