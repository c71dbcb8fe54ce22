using System.Threading.Tasks.Dataflow;

namespace LvMae.Pipeline;

/// <summary>
/// A Dataflow block batching by sample count AND padded-token budget (BatchBlock only counts items):
/// a single-threaded ActionBlock runs a <see cref="BatchPlanner"/> and SendAsyncs closed batches into a
/// bounded BufferBlock; completion flushes the last partial batch, faults and cancellation propagate.
/// </summary>
public static class TokenBudgetBatchBlock
{
    public static IPropagatorBlock<WindowedSample, TrainingBatch> Create(
        int maxBatchSize, int tokenBudget, int dimension, int outputCapacity,
        CancellationToken cancellationToken = default, Action<TrainingBatch>? onEmitted = null)
    {
        var output = new BufferBlock<TrainingBatch>(
            new DataflowBlockOptions { BoundedCapacity = outputCapacity, CancellationToken = cancellationToken });
        var planner = new BatchPlanner(maxBatchSize, tokenBudget, dimension);

        async Task EmitAsync(TrainingBatch batch)
        {
            // SendAsync waits for room (Post would drop the batch); false means the output was completed or faulted.
            if (!await output.SendAsync(batch, cancellationToken))
                throw new InvalidOperationException("the batch output no longer accepts batches");
            onEmitted?.Invoke(batch);
        }

        var input = new ActionBlock<WindowedSample>(async sample =>
        {
            if (!planner.Fits(sample)) await EmitAsync(planner.Take());
            planner.Add(sample);
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
                if (planner.HasPending) await EmitAsync(planner.Take());
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
