using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using LvMae.Contracts;
using LvMae.Model;
using LvMae.Model.Adaptive;
using LvMae.Model.Quantization;
using LvMae.Model.Data;
using LvMae.Model.Training;
using LvMae.Pipeline;
using LvMae.Storage;

namespace LvMae.Grains.Training;

/// <summary>What the training thread tells its grain (through a channel; the grain persists and reports).</summary>
public abstract record TrainingEvent;
public sealed record StepEvent(StepResult Result, long Epoch, long TotalSteps, double TokensPerSecond) : TrainingEvent;
/// <summary>A checkpoint blob was written (data first: the grain records it afterwards).</summary>
public sealed record CheckpointEvent(long Step, string Blob, long Epoch, int NextIndex, byte[] Checkpoint, bool Probe, bool Final) : TrainingEvent;
public sealed record SkipEvent(SkippedVideo Skip) : TrainingEvent;
public sealed record WaitingEvent(string Message) : TrainingEvent;
public sealed record StartedEvent(string Device, int Dimension, long TotalSteps, long FromStep) : TrainingEvent;
/// <summary>An FSQ-target run fitted its quantizer (before step 0).</summary>
public sealed record CodebookEvent(string Summary, CodebookUsage Usage, double FinalLoss, int Videos) : TrainingEvent;

/// <summary>Where a resumed run picks up: the checkpoint and the feed position after its last batch.</summary>
public sealed record ResumePoint(byte[] Checkpoint, long Step, long Epoch, int NextIndex, string Blob);

/// <summary>
/// The training loop of one run, on ONE dedicated thread: builds (or resumes) the trainer, starts the training feed over the
/// corpus index, steps, checkpoints to blob every N steps and at the end. Returns true when the run reached its end,
/// false when cancelled (deactivation, Stop).
/// </summary>
public sealed class TrainingWorker(
    string run, TrainingRunConfig config, long totalSteps, ResumePoint? resume, BlobStore blobs, IEmbeddedVideoSource source,
    IEmbeddingLoader loader, TrainingOptions options, ChannelWriter<TrainingEvent> events)
{
    public const string StepMetadata = "step";
    public const string EpochMetadata = "epoch";
    public const string NextIndexMetadata = "nextindex";

    /// <summary>Set by Stop: finish the current step, checkpoint, return false.</summary>
    public volatile bool StopRequested;

    public bool Run(CancellationToken ct)
    {
        var dim = resume is null ? WaitForDimension(ct) : Checkpoint.ReadHeader(resume.Checkpoint).Options.Model.EmbeddingDim;
        // FSQ targets: the quantizer is fitted once, before step 0; a resumed run finds it in its checkpoint.
        using var fsq = resume is null && IsFsq(config) ? FitFsq(dim, ct) : null;
        using var trainer = resume is null ? new Trainer(TrainerOptionsFor(config, dim, totalSteps), config.Device, fsq: fsq) : Trainer.Resume(resume.Checkpoint, config.Device);
        if (config.TorchThreads is { } threads) TorchSharp.torch.set_num_threads(threads);
        events.TryWrite(new StartedEvent(trainer.Device.ToString(), dim, totalSteps, trainer.StepCount));
        if (trainer.StepCount >= totalSteps) return true;

        var firstEpoch = resume?.Epoch ?? 0;
        var skipBelow = resume?.NextIndex ?? 0;
        var feedOptions = new TrainingFeedOptions
        {
            Encoder = config.Encoder,
            Dimension = dim,
            Seed = config.Seed,
            FirstEpoch = firstEpoch,
            FirstIndexInEpoch = skipBelow,   // batches before the checkpoint are planned, not read again
            Epochs = config.Steps is null && config.Epochs is { } e ? Math.Max(1, e - firstEpoch) : null,
            MaxBatchSize = config.BatchSize,
            TokenBudget = config.BatchSize * config.MaxTokens,
            Window = new DurationWindowOptions { MaxTokens = config.MaxTokens, MinSeconds = config.MinWindowSeconds, MaxSeconds = config.MaxWindowSeconds },
            EmptyCorpusRetry = TimeSpan.FromSeconds(1),
        };
        var skips = new InlineSkipReporter(s => events.TryWrite(new SkipEvent(s)));
        var feed = TrainingFeed.Start(source, loader, feedOptions, skips, ct);
        long epoch = firstEpoch;
        var nextIndex = skipBelow;
        var watch = Stopwatch.StartNew();
        long tokensSinceStart = 0;
        try
        {
            foreach (var batch in feed.ReadAllBlocking(ct))
            {
                if (batch.Epoch == firstEpoch && batch.IndexInEpoch < skipBelow) continue; // done before the checkpoint
                var result = trainer.Step(batch.ToEmbeddingBatch());
                (epoch, nextIndex) = (batch.Epoch, batch.IndexInEpoch + 1);
                tokensSinceStart += result.Tokens;
                events.TryWrite(new StepEvent(result, epoch, totalSteps, tokensSinceStart / Math.Max(watch.Elapsed.TotalSeconds, 1e-6)));
                var step = trainer.StepCount;
                var end = step >= totalSteps;
                var probe = config.ProbeEvery > 0 && step % config.ProbeEvery == 0;
                if (end || StopRequested || probe || (config.CheckpointEvery > 0 && step % config.CheckpointEvery == 0))
                    SaveCheckpoint(trainer, epoch, nextIndex, probe || (end && config.ProbeEvery >= 0), end, ct);
                if (end) return true;
                if (StopRequested) return false;
                if (options.StepDelay > TimeSpan.Zero) ct.WaitHandle.WaitOne(options.StepDelay);
                ct.ThrowIfCancellationRequested();
            }
            // The feed ended (epoch-limited run): that is the end of training.
            SaveCheckpoint(trainer, epoch, nextIndex, config.ProbeEvery >= 0, true, ct);
            return true;
        }
        finally
        {
            feed.Cancel();
            try { feed.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10)); }
            catch (Exception) { /* the outcome was observed through the enumeration */ }
        }
    }

    private void SaveCheckpoint(Trainer trainer, long epoch, int nextIndex, bool probe, bool final, CancellationToken ct)
    {
        var bytes = trainer.SaveCheckpoint();
        var step = trainer.StepCount;
        var blob = BlobLayout.RunCheckpoint(run, step);
        var metadata = new Dictionary<string, string>
        {
            [StepMetadata] = step.ToString(CultureInfo.InvariantCulture),
            [EpochMetadata] = epoch.ToString(CultureInfo.InvariantCulture),
            [NextIndexMetadata] = nextIndex.ToString(CultureInfo.InvariantCulture),
        };
        blobs.UploadAsync(blob, bytes, metadata, "application/octet-stream", ct).GetAwaiter().GetResult();
        events.TryWrite(new CheckpointEvent(step, blob, epoch, nextIndex, bytes, probe, final));
    }

    public static bool IsFsq(TrainingRunConfig config) => config.Targets.Equals("fsq", StringComparison.OrdinalIgnoreCase);

    /// <summary>Fits the FSQ autoencoder on the segments of up to <see cref="TrainingOptions.FsqFitVideos"/> embedded videos.</summary>
    private FsqAutoencoder FitFsq(int dim, CancellationToken ct)
    {
        var videos = new List<float[]>();
        foreach (var video in source.ListAsync(config.Encoder, ct).ToBlockingEnumerable(ct))
        {
            if (videos.Count >= options.FsqFitVideos) break;
            try
            {
                var loaded = loader.LoadAsync(video, ct).GetAwaiter().GetResult();
                if (loaded.Dimension == dim) videos.Add(loaded.Values);
            }
            catch (EmbeddingLoadException e) { events.TryWrite(new SkipEvent(new SkippedVideo(video.VideoId, -1, e.Reason, e))); }
        }
        if (videos.Count == 0) throw new InvalidOperationException($"no video embedded with '{config.Encoder}' could be loaded to fit the FSQ quantizer");
        var levels = config.FsqLevels.ToArray();
        var (fsq, loss, usage) = FsqAutoencoder.Fit(videos, dim, new FsqOptions { Levels = levels, Seed = config.Seed }, TorchDevice.Resolve(config.Device));
        var summary = $"FSQ [{string.Join(",", levels)}]: {usage.Used}/{usage.CodebookSize} codes used ({usage.Fraction:P1}), " +
                      $"perplexity {usage.Perplexity:F1}, fitted on {usage.Tokens} segments of {videos.Count} videos (reconstruction MSE {loss:G3})";
        events.TryWrite(new CodebookEvent(summary, usage, loss, videos.Count));
        return fsq;
    }

    /// <summary>The embedding width, from the first embedded video that loads (waits while the corpus has none).</summary>
    private int WaitForDimension(CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var videos = source.ListAsync(config.Encoder, ct).ToBlockingEnumerable(ct).Take(20).ToList();
            foreach (var video in videos)
            {
                if (video.Dimension > 0) return video.Dimension;
                try { return loader.LoadAsync(video, ct).GetAwaiter().GetResult().Dimension; }
                catch (EmbeddingLoadException e) { events.TryWrite(new SkipEvent(new SkippedVideo(video.VideoId, -1, e.Reason, e))); }
            }
            events.TryWrite(new WaitingEvent($"waiting for videos embedded with '{config.Encoder}'"));
            ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(2));
        }
    }

    public static TrainerOptions TrainerOptionsFor(TrainingRunConfig config, int dim, long totalSteps) => new()
    {
        Model = MaeConfig.FromPreset(config.Preset, dim, config.MaxTokens),
        Masking = config.Masking,
        MaskRatio = config.MaskRatio,
        Adaptive = new AdaptiveOptions { DecoderMasking = DecoderSelection.Parse(config.DecoderMasking), DecoderBudget = config.DecoderBudget, FsqTargets = IsFsq(config) },
        BatchSize = config.BatchSize,
        AbsoluteLr = config.Lr,
        TotalSteps = totalSteps,
        WarmupSteps = config.WarmupSteps ?? Math.Max(1, totalSteps / 10),
        Seed = config.Seed,
        TorchThreads = config.TorchThreads,
    };

    private sealed class InlineSkipReporter(Action<SkippedVideo> report) : IProgress<SkippedVideo>
    {
        public void Report(SkippedVideo value) => report(value);
    }
}
