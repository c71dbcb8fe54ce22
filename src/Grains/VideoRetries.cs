using LvMae.Contracts;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace LvMae.Grains;

/// <summary>
/// A video's retry policies (Polly), from the most patient to the least: storage outages are waited out without limit (the
/// video is not at fault); transient media errors are retried until the video's persisted attempt count reaches
/// MaxAttempts; index publishes are retried briefly (the index shard asks again later anyway). Callbacks resume on the
/// grain's scheduler (<see cref="Run"/> asks Polly to continue on the captured context).
/// </summary>
public sealed class VideoRetries
{
    private readonly Action<string, Exception, TimeSpan> _onRetry;

    public VideoRetries(ProcessingOptions options, Func<int> attempts, Action<string, Exception, TimeSpan> onRetry)
    {
        _onRetry = onRetry;
        Work = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                Name = "storage outage",
                ShouldHandle = new PredicateBuilder().Handle<Exception>(VideoFailures.IsStorageOutage),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.MaxRetryDelay,
                UseJitter = true,
                OnRetry = args => Report("storage unavailable", args.Outcome.Exception!, args.RetryDelay),
            })
            .AddRetry(new RetryStrategyOptions
            {
                Name = "transient media error",
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => IsTransientMediaError(e) && attempts() < options.MaxAttempts),
                MaxRetryAttempts = int.MaxValue, // bounded by the persisted attempt count above
                DelayGenerator = _ => ValueTask.FromResult<TimeSpan?>(Backoff(options, attempts())),
                OnRetry = args => Report($"attempt {attempts()} failed", args.Outcome.Exception!, args.RetryDelay),
            })
            .Build();
    }

    public ResiliencePipeline Work { get; }

    /// <summary>
    /// The policies of one video (its state read through <paramref name="video"/>): its attempts are the state's, and imports
    /// get no media retries (their only work is validating bytes already in storage). Every retry is logged.
    /// </summary>
    public static VideoRetries For(ProcessingOptions options, Func<VideoState> video, ILogger logger, string id)
    {
        VideoRetries? retries = null;
        retries = new VideoRetries(options, () => video().Kind == VideoSourceKind.Embeddings ? int.MaxValue : video().Attempts, (what, e, delay) =>
        {
            // Not the video's attempt. Noted, not applied to the state: a change waiting to be saved must be written as it was
            // first sent, so that reading back can recognise it if storage applied it without answering.
            if (VideoFailures.IsStorageOutage(e) && video().Kind == VideoSourceKind.VideoFile) retries!._outageInterrupted = true;
            logger.LogInformation("video {Id}: {What} ({Message}); trying again in {Delay}", id, what, VideoFailures.Message(e), delay);
        });
        return retries;
    }

    private bool _outageInterrupted;

    /// <summary>True once after a storage outage interrupted a video's attempt: that attempt goes on, so it is not counted again.</summary>
    public bool TakeOutageInterruption()
    {
        var interrupted = _outageInterrupted;
        _outageInterrupted = false;
        return interrupted;
    }

    public static ResiliencePipeline IndexPublish { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            Name = "index publish",
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not ArgumentException),
            MaxRetryAttempts = 2,
            BackoffType = DelayBackoffType.Linear,
            Delay = TimeSpan.FromMilliseconds(200),
        })
        .Build();

    private ValueTask Report(string what, Exception e, TimeSpan delay)
    {
        _onRetry(what, e, delay);
        return default;
    }

    /// <summary>Worth another attempt: not storage (the outer policy), not the input's fault, not a cancellation or a stale activation.</summary>
    private static bool IsTransientMediaError(Exception e) =>
        e is not (OperationCanceledException or Orleans.Storage.InconsistentStateException) && !VideoFailures.IsStorageOutage(e) && !VideoFailures.Classify(e).Permanent;

    public static TimeSpan Backoff(ProcessingOptions options, int attempt)
    {
        var ms = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(20, Math.Max(0, attempt - 1)));
        return TimeSpan.FromMilliseconds(Math.Min(ms, options.MaxRetryDelay.TotalMilliseconds));
    }

    /// <summary>Runs <paramref name="body"/> under <paramref name="pipeline"/>, resuming on the caller's (the grain's) scheduler.</summary>
    public static async Task Run(ResiliencePipeline pipeline, Func<CancellationToken, Task> body, CancellationToken ct)
    {
        var context = ResilienceContextPool.Shared.Get(continueOnCapturedContext: true, cancellationToken: ct);
        try { await pipeline.ExecuteAsync(static async (c, b) => await b(c.CancellationToken), context, body); }
        finally { ResilienceContextPool.Shared.Return(context); }
    }
}
