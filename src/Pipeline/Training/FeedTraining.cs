using LvMae.Model.Training;
using LvMae.Pipeline.Telemetry;

namespace LvMae.Pipeline;

/// <summary>Where the feed stands: the epoch of the last batch trained and the index of the next batch in it.</summary>
public readonly record struct FeedPosition(long Epoch, int NextIndex);

/// <summary>How a training loop ended.</summary>
public enum FeedTrainingEnd
{
    /// <summary>The trainer reached its total steps.</summary>
    Steps,
    /// <summary>The feed ran out (an epoch-limited run): that is the end of training too.</summary>
    FeedEnded,
    /// <summary>The step callback asked to stop (Stop).</summary>
    Stopped,
}

/// <summary>
/// THE training loop of the code base (training runs, the ablation): <see cref="Trainer.Step"/> over the batches of a
/// <see cref="TrainingFeed"/>, on the calling thread, which must be one dedicated thread (TorchSharp). A resumed run
/// passes the feed position of its checkpoint: the batches of that epoch before it are skipped, so it sees exactly the
/// batches the uninterrupted run saw. Cancellation ends it with an <see cref="OperationCanceledException"/>.
/// </summary>
public static class FeedTraining
{
    /// <param name="afterStep">Called after every step with its result and the feed position after it; false = stop.</param>
    public static (FeedTrainingEnd End, FeedPosition Position) Run(
        Trainer trainer, TrainingFeed feed, long totalSteps, FeedPosition start, Func<StepResult, FeedPosition, bool> afterStep,
        CancellationToken cancellationToken)
    {
        var position = start;
        if (trainer.StepCount >= totalSteps) return (FeedTrainingEnd.Steps, position);
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        foreach (var batch in feed.ReadAllBlocking(cancellationToken))
        {
            if (batch.Epoch == start.Epoch && batch.IndexInEpoch < start.NextIndex) continue; // trained before the checkpoint
            LvMaeMetrics.FeedWait.Record(waiting.Elapsed.TotalSeconds);
            LvMaeMetrics.FeedBatches.Add(1);
            var result = trainer.Step(batch.ToEmbeddingBatch());
            LvMaeMetrics.StepDuration.Record(result.Elapsed.TotalSeconds);
            LvMaeMetrics.TrainedTokens.Add(result.Tokens);
            position = new FeedPosition(batch.Epoch, batch.IndexInEpoch + 1);
            var go = afterStep(result, position);
            if (trainer.StepCount >= totalSteps) return (FeedTrainingEnd.Steps, position);
            if (!go) return (FeedTrainingEnd.Stopped, position);
            cancellationToken.ThrowIfCancellationRequested();
            waiting.Restart();
        }
        return (FeedTrainingEnd.FeedEnded, position);
    }
}
