namespace LvMae.Media;

/// <summary>
/// Threads for each of <see cref="Jobs"/> concurrent media jobs, so that the threads that run at once fit the cores.
/// Left to themselves ffmpeg and ONNX Runtime each start a thread per core in every job, and a silo running several
/// jobs oversubscribes the machine many times over (16 cores, 8 jobs: ~260 threads).
/// <para>
/// A job is a two-stage pipeline: ffmpeg decodes into a small bounded queue, the encoder infers from it. The stages
/// take turns rather than run flat out together: the slower one sets the pace and the faster one blocks on the queue
/// (resnet18 on web-bitrate video: at 720p ffmpeg takes ~2.5x the CPU of inference, at 320x180 inference ~2x ffmpeg's;
/// docs/BENCHMARKS.md, media). So each stage gets the job's whole share of the cores, cores / jobs, and jobs x share =
/// cores. Splitting the share between the stages (jobs x (decoder + inference) = cores) would leave part of every
/// share idle whenever one stage dominates: on 2 cores, one thread per stage, so a decode-bound job could never use the
/// second core. With one job per core the budget is one thread per stage (and one ONNX Runtime thread is the cheapest
/// in CPU per frame: the benchmark's inference table).
/// </para>
/// <code>
/// var budget = MediaThreadBudget.For(Environment.ProcessorCount, processing.MaxConcurrentJobs);
/// var encoder = SegmentEncoders.Create("resnet18", budget.Apply(EncoderOptions.Default));
/// await VideoEmbedder.EmbedAsync(path, encoder, segmentation, budget.Apply(FrameSamplingOptions.Default), progress, ct);
/// </code>
/// </summary>
/// <param name="Jobs">Concurrent jobs the budget was made for.</param>
/// <param name="DecoderThreads">ffmpeg threads per job (<c>-threads</c> for the decoder, <c>-filter_threads</c> for the filters).</param>
/// <param name="InferenceThreads">ONNX Runtime intra-op threads per job.</param>
public sealed record MediaThreadBudget(int Jobs, int DecoderThreads, int InferenceThreads)
{
    /// <summary>
    /// Each job's share of <paramref name="cores"/> (at least one thread) for each of its two stages.
    /// Examples: 2 cores, 1 job: 2 + 2; 2 cores, 2 jobs: 1 + 1 each; 16 cores, 8 jobs: 2 + 2 each; 8 cores, 3 jobs: 2 + 2 each.
    /// More jobs than cores oversubscribe by necessity (<see cref="FitsIn"/> says so).
    /// </summary>
    public static MediaThreadBudget For(int cores, int jobs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cores, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(jobs, 1);
        var share = Math.Max(1, cores / jobs);
        return new MediaThreadBudget(jobs, share, share);
    }

    /// <summary><see cref="For"/> with this machine's <see cref="Environment.ProcessorCount"/> (which honours container CPU limits).</summary>
    public static MediaThreadBudget ForThisMachine(int jobs) => For(Environment.ProcessorCount, jobs);

    /// <summary>Threads of one job that run at once: the busier stage's (the other one waits on the queue).</summary>
    public int BusyThreadsPerJob => Math.Max(DecoderThreads, InferenceThreads);

    /// <summary>True when the jobs' busy threads together are no more than <paramref name="cores"/>.</summary>
    public bool FitsIn(int cores) => Jobs * BusyThreadsPerJob <= cores;

    /// <summary><paramref name="options"/> with this budget's inference threads.</summary>
    public EncoderOptions Apply(EncoderOptions options) => options with { IntraOpThreads = InferenceThreads };

    /// <summary><paramref name="options"/> with this budget's ffmpeg threads.</summary>
    public FrameSamplingOptions Apply(FrameSamplingOptions options) => options with { DecoderThreads = DecoderThreads };
}
