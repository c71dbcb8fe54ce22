using System.Threading.Tasks.Dataflow;

namespace LvMae.Pipeline;

/// <summary>One planned window after its load: the sample, or null when its video could not be read (reported and skipped);
/// <paramref name="Fault"/>: the feed must stop here (too many loads failed in a row).</summary>
public sealed record LoadedWindow(PlannedBatch Batch, WindowedSample? Sample, Exception? Fault = null);

/// <summary>
/// A Dataflow block turning loaded windows (arriving in plan order) back into their planned batches: a batch is
/// packed once every one of its windows has arrived, without the ones whose video failed (a batch whose every video
/// failed is left out). A single-threaded ActionBlock SendAsyncs packed batches into a bounded BufferBlock;
/// faults and cancellation propagate.
/// </summary>
public static class PlannedBatchBlock
{
    public static IPropagatorBlock<LoadedWindow, TrainingBatch> Create(
        int maxBatchSize, int dimension, int outputCapacity, CancellationToken cancellationToken = default, Action<TrainingBatch>? onEmitted = null)
    {
        var output = new BufferBlock<TrainingBatch>(
            new DataflowBlockOptions { BoundedCapacity = outputCapacity, CancellationToken = cancellationToken });
        PlannedBatch? current = null;
        var arrived = 0;
        var samples = new List<WindowedSample>(maxBatchSize);

        var input = new ActionBlock<LoadedWindow>(async loaded =>
        {
            if (loaded.Fault is not null) throw loaded.Fault;
            if (current is not null && !ReferenceEquals(current, loaded.Batch))
                throw new InvalidOperationException($"a window of batch {loaded.Batch.IndexInEpoch} arrived before batch {current.IndexInEpoch} was complete");
            current = loaded.Batch;
            arrived++;
            if (loaded.Sample is not null) samples.Add(loaded.Sample);
            if (arrived < current.Windows.Count) return;

            var batch = samples.Count == 0 ? null : TrainingBatch.Pack(samples, dimension, current.IndexInEpoch);
            (current, arrived) = (null, 0);
            samples.Clear();
            if (batch is null) return;
            // SendAsync waits for room (Post would drop the batch); false means the output was completed or faulted.
            if (!await output.SendAsync(batch, cancellationToken))
                throw new InvalidOperationException("the batch output no longer accepts batches");
            onEmitted?.Invoke(batch);
        }, new ExecutionDataflowBlockOptions
        {
            BoundedCapacity = maxBatchSize,
            MaxDegreeOfParallelism = 1,
            CancellationToken = cancellationToken,
        });

        _ = FinishAsync();
        return DataflowBlock.Encapsulate(input, output);

        async Task FinishAsync()
        {
            try
            {
                await input.Completion;
                if (current is not null) throw new InvalidOperationException($"the feed ended inside batch {current.IndexInEpoch}");
                output.Complete();
            }
            catch (OperationCanceledException)
            {
                output.Complete(); // the shared token has cancelled the output as well
            }
            catch (Exception e)
            {
                ((IDataflowBlock)output).Fault(e);
            }
        }
    }
}
