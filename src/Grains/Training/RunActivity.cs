using System.Threading.Channels;
using LvMae.Contracts;
using LvMae.Pipeline;
using LvMae.Runs;
using LvMae.Storage;

namespace LvMae.Grains.Training;

/// <summary>
/// What one activation of a run has going (not persisted): the trainer and its pump, the starting flag, the export, the
/// plot, the running probe's activity, the data source and loader it shares among trainer, probes and
/// exports, and what it saw of the run (<see cref="Seen"/>, changed only by <see cref="RunRecorder"/>). Used from the
/// grain's turns; <see cref="ProbeActivity"/> is also written by the probe's thread.
/// </summary>
public sealed class RunActivity
{
    public RunObservation Seen { get; set; } = new();
    public CancellationTokenSource? Cancellation { get; set; }
    public TrainingWorker? Worker { get; set; }
    public Task<bool>? Training { get; set; }
    public Task? Pump { get; set; }
    public bool Starting { get; set; }
    /// <summary>The latest start of training (completes once the worker is launched or the start failed).</summary>
    public Task Start { get; set; } = Task.CompletedTask;
    public Task? Exporting { get; set; }
    public Task Plotting { get; set; } = Task.CompletedTask;
    private volatile ProbeActivity? _probeActivity;
    public ProbeActivity? ProbeActivity { get => _probeActivity; set => _probeActivity = value; }
    private IEmbeddedVideoSource? _source;
    private IEmbeddingLoader? _loader;

    /// <summary>Training, or its pump still recording the outcome (a resume ping in between must not start a second worker).</summary>
    public bool Running => Starting || Training is { IsCompleted: false } || Pump is { IsCompleted: false };
    public bool IsExporting => Exporting is { IsCompleted: false };

    /// <summary>The run's videos (the corpus index) and their loader (cached per activation), made on first use.</summary>
    public (IEmbeddedVideoSource Source, IEmbeddingLoader Loader) Data(IGrainFactory grains, TrainingRunConfig config, BlobStore blobs, long cacheBytes)
    {
        _source ??= new IndexEmbeddedVideoSource(grains, config.LabelColumns);
        _loader ??= new CachingEmbeddingLoader(new BlobEmbeddingLoader(blobs.Container), cacheBytes);
        return (_source, _loader);
    }

    /// <summary>Starts <paramref name="worker"/> (made with the writer of a new event channel) on its own thread, with a new
    /// cancellation; the channel completes when the training ends. Returns the training and the events to pump.</summary>
    public (Task<bool> Training, ChannelReader<TrainingEvent> Events) Launch(string run, Func<ChannelWriter<TrainingEvent>, TrainingWorker> worker)
    {
        var channel = TrainingWorker.CreateChannel();
        Cancellation?.Dispose();
        var token = (Cancellation = new CancellationTokenSource()).Token;
        var trainer = Worker = worker(channel.Writer);
        var training = Training = DedicatedThread.Run($"lvmae-train-{run}", () => trainer.Run(token));
        _ = training.ContinueWith(_ => channel.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return (training, channel.Reader);
    }

    /// <summary>Cancels the trainer and waits (bounded) for it and its pump.</summary>
    public Task CancelAsync()
    {
        Cancellation?.Cancel();
        return WindDownAsync(TimeSpan.FromSeconds(20));
    }

    /// <summary>Waits (bounded) for the trainer and its pump; failures and time-outs are swallowed (the state says where to resume).</summary>
    public async Task WindDownAsync(TimeSpan wait)
    {
        foreach (var task in new Task?[] { Training, Pump }.OfType<Task>())
            try { await task.WaitAsync(wait); }
            catch (Exception) { /* cancelled, failed or too slow: its outcome is in the state; Running says whether it still goes */ }
    }
}
