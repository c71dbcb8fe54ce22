using System.Diagnostics;
using System.Threading.Channels;
using LvMae.Contracts;
using LvMae.Model;
using LvMae.Model.Quantization;
using LvMae.Model.Training;
using LvMae.Pipeline;
using LvMae.Runs;

namespace LvMae.Grains.Training;

/// <summary>What the training thread tells its grain (through a bounded channel; the grain persists and reports).
/// No event carries checkpoint bytes: those go to the <see cref="CheckpointUploader"/>.</summary>
public abstract record TrainingEvent;
public sealed record StepEvent(StepResult Result, long Epoch, long TotalSteps, double TokensPerSecond) : TrainingEvent;
/// <summary>A checkpoint blob was written and verified-by-hash on later loads (data first: the grain records it afterwards).</summary>
public sealed record CheckpointEvent(long Step, string Blob, FeedPosition Position, bool Probe, bool Final) : TrainingEvent;
/// <summary>A checkpoint could not be uploaded (training goes on; the next checkpoint tries again).</summary>
public sealed record CheckpointFailedEvent(long Step, string Error) : TrainingEvent;
public sealed record SkipEvent(SkippedVideo Skip) : TrainingEvent;
public sealed record WaitingEvent(string Message) : TrainingEvent;
public sealed record StartedEvent(string Device, int Dimension, long TotalSteps, long FromStep, TrainingSchedule Schedule) : TrainingEvent;
/// <summary>An FSQ-target run fitted its quantizer (before step 0).</summary>
public sealed record CodebookEvent(string Summary, CodebookUsage Usage, double FinalLoss, int Videos) : TrainingEvent;

/// <summary>
/// The training of one run, on ONE dedicated thread: builds (or resumes) the trainer, starts the training feed over the
/// run's training videos (<see cref="TrainSplitSource"/> unless the run pre-trains on held-out videos too), runs
/// <see cref="FeedTraining"/>, hands a checkpoint to the uploader every N steps and at the end, and reports through a
/// bounded channel (a stalled grain slows training down instead of growing memory). Returns true when the run reached
/// its end, false when stopped; cancellation (deactivation) throws.
/// </summary>
public sealed class TrainingWorker(
    TrainingRunConfig config, long totalSteps, ResumePoint? resume, CheckpointStore checkpoints, IEmbeddedVideoSource source,
    IEmbeddingLoader loader, TrainingOptions options, ChannelWriter<TrainingEvent> events)
{
    /// <summary>Step events the channel holds before the training thread waits for the grain.</summary>
    public const int EventCapacity = 4096;

    /// <summary>Set by Stop: finish the current step, checkpoint, return false.</summary>
    public volatile bool StopRequested;

    public static Channel<TrainingEvent> CreateChannel() =>
        Channel.CreateBounded<TrainingEvent>(new BoundedChannelOptions(EventCapacity) { SingleReader = true, SingleWriter = false, FullMode = BoundedChannelFullMode.Wait });

    public bool Run(CancellationToken ct)
    {
        var runSource = RunSettings.TrainingSource(config, source);
        var dim = resume is null ? WaitForDimension(runSource, ct) : Checkpoint.ReadHeader(resume.Checkpoint).Options.Model.EmbeddingDim;
        // FSQ targets: the quantizer is fitted once, before step 0; a resumed run finds it in its checkpoint.
        using var fsq = resume is null && RunSettings.IsFsq(config) ? FitFsq(runSource, dim, ct) : null;
        using var trainer = resume is null ? new Trainer(RunSettings.TrainerOptions(config, dim, totalSteps), config.Device, fsq: fsq) : Trainer.Resume(resume.Checkpoint, config.Device);
        if (config.TorchThreads is { } threads) TorchSharp.torch.set_num_threads(threads);
        Send(new StartedEvent(trainer.Device.ToString(), dim, totalSteps, trainer.StepCount, RunSettings.Schedule(trainer.Options)), ct);
        if (trainer.StepCount >= totalSteps) return true; // resumed from its final checkpoint

        var uploader = new CheckpointUploader(checkpoints.SaveAsync,
            (c, blob, error) => Send(blob is not null ? new CheckpointEvent(c.Step, blob, c.Position, c.Probe, c.Final) : new CheckpointFailedEvent(c.Step, error?.Message ?? "unknown"), ct), ct);
        var start = resume?.Position ?? new FeedPosition(0, 0);
        var feed = TrainingFeed.Start(runSource, loader, RunSettings.FeedOptions(config, dim, start), new InlineSkipReporter(s => Send(new SkipEvent(s), ct)), ct);
        var watch = Stopwatch.StartNew();
        long tokensSinceStart = 0;
        try
        {
            var (end, position) = FeedTraining.Run(trainer, feed, totalSteps, start, (result, position) =>
            {
                tokensSinceStart += result.Tokens;
                Send(new StepEvent(result, position.Epoch, totalSteps, tokensSinceStart / Math.Max(watch.Elapsed.TotalSeconds, 1e-6)), ct);
                var step = trainer.StepCount;
                var probe = config.ProbeEvery > 0 && step % config.ProbeEvery == 0;
                var last = step >= totalSteps || StopRequested;
                if (!last && (probe || (config.CheckpointEvery > 0 && step % config.CheckpointEvery == 0)))
                    uploader.Offer(new PendingCheckpoint(step, position, trainer.SaveCheckpoint(), probe, Final: false));
                if (options.StepDelay > TimeSpan.Zero && !last) ct.WaitHandle.WaitOne(options.StepDelay);
                return !StopRequested;
            }, ct);
            // The last checkpoint (end of steps or of an epoch-limited feed, or a stop), uploaded before we report the outcome.
            var finished = end != FeedTrainingEnd.Stopped;
            if (trainer.StepCount > (resume?.Step ?? 0) || finished)
                uploader.Offer(new PendingCheckpoint(trainer.StepCount, position, trainer.SaveCheckpoint(), finished && config.ProbeEvery >= 0, finished));
            uploader.Flush();
            return finished;
        }
        finally
        {
            feed.Cancel();
            try { feed.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10)); }
            catch (Exception) { /* the outcome was observed through the enumeration */ }
        }
    }

    /// <summary>Waits while the grain is behind (bounded channel); cancellation ends the wait.</summary>
    private void Send(TrainingEvent e, CancellationToken ct)
    {
        if (!events.TryWrite(e)) events.WriteAsync(e, ct).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Fits the FSQ autoencoder on the segments of up to <see cref="TrainingOptions.FsqFitVideos"/> embedded videos.</summary>
    private FsqAutoencoder FitFsq(IEmbeddedVideoSource videos, int dim, CancellationToken ct)
    {
        var loaded = new List<float[]>();
        foreach (var video in videos.ListAsync(config.Encoder, ct).ToBlockingEnumerable(ct))
        {
            if (loaded.Count >= options.FsqFitVideos) break;
            if (loader.TryLoadAsync(video, dim, e => Skipped(video, e, ct), ct).GetAwaiter().GetResult() is { } l) loaded.Add(l.Values);
        }
        if (loaded.Count == 0) throw new InvalidOperationException($"no video embedded with '{config.Encoder}' could be loaded to fit the FSQ quantizer");
        var levels = config.FsqLevels.ToArray();
        var (fsq, loss, usage) = FsqAutoencoder.Fit(loaded, dim, new FsqOptions { Levels = levels, Seed = config.Seed }, TorchDevice.Resolve(config.Device));
        var summary = $"FSQ [{string.Join(",", levels)}]: {usage.Used}/{usage.CodebookSize} codes used ({usage.Fraction:P1}), " +
                      $"perplexity {usage.Perplexity:F1}, fitted on {usage.Tokens} segments of {loaded.Count} videos (reconstruction MSE {loss:G3})";
        Send(new CodebookEvent(summary, usage, loss, loaded.Count), ct);
        return fsq;
    }

    /// <summary>The embedding width, from the first embedded video that loads (waits while the corpus has none).</summary>
    private int WaitForDimension(IEmbeddedVideoSource videos, CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            foreach (var video in videos.ListAsync(config.Encoder, ct).ToBlockingEnumerable(ct).Take(20).ToList())
            {
                if (video.Dimension > 0) return video.Dimension;
                if (loader.TryLoadAsync(video, skipped: e => Skipped(video, e, ct), cancellationToken: ct).GetAwaiter().GetResult() is { } l) return l.Dimension;
            }
            Send(new WaitingEvent($"waiting for videos embedded with '{config.Encoder}'"), ct);
            ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(2));
        }
    }

    private void Skipped(EmbeddedVideoDescriptor video, EmbeddingLoadException e, CancellationToken ct) =>
        Send(new SkipEvent(new SkippedVideo(video.VideoId, -1, e.Reason, e)), ct);

    private sealed class InlineSkipReporter(Action<SkippedVideo> report) : IProgress<SkippedVideo>
    {
        public void Report(SkippedVideo value) => report(value);
    }
}
