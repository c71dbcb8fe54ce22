using System.Globalization;
using System.Threading.Channels;

namespace LvMae.Media;

internal static class EmbedderImpl
{
    /// <summary>Probe, plan, then <see cref="EmbedPlannedAsync"/>.</summary>
    public static async Task<EmbeddedVideo> EmbedAsync(
        string path, ISegmentEncoder encoder, SegmentationOptions options, FrameSamplingOptions? sampling,
        IProgress<double>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(options);
        SegmentPlanning.Validate(options);

        var info = await InspectionImpl.InspectAsync(path, (sampling ?? FrameSamplingOptions.Default).Timeouts, cancellationToken).ConfigureAwait(false);
        RejectTooLong(path, info, options); // before planning: a declared duration of years would plan millions of segments
        var segments = SegmentPlanning.Plan(info.DurationSeconds, options);
        return await EmbedPlannedAsync(path, info, segments, encoder, options, sampling, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Embeds <paramref name="segments"/> of a video already probed (<paramref name="info"/>) and planned: decode (ffmpeg,
    /// its own process) and encode (a worker thread) at the same time: the sampler pushes each segment's frames into a
    /// small bounded channel, the encoder takes as many as fit in one batch.
    /// </summary>
    public static async Task<EmbeddedVideo> EmbedPlannedAsync(
        string path, VideoInfo info, IReadOnlyList<SegmentSpan> segments, ISegmentEncoder encoder, SegmentationOptions options,
        FrameSamplingOptions? sampling, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(segments);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(options);
        SegmentPlanning.Validate(options);
        RejectTooLong(path, info, options);
        if (segments.Count == 0)
            throw new MediaException(path, MediaErrorKind.TooFewFrames,
                $"video is {info.DurationSeconds:0.###} s long, shorter than the {options.MinLastSegmentSeconds:0.###} s minimum segment");
        var frames = options.FramesPerSegment ?? encoder.DefaultFramesPerSegment;
        var size = encoder.FrameSize;
        var dim = encoder.Dimension;
        var perBatch = Math.Max(1, encoder.MaxBatchFrames / frames);
        progress?.Report(0);

        // Grown as rows arrive (in plan order): memory follows the segments that decode, not what the container claims.
        var embeddings = new float[Math.Min(segments.Count, 1024) * dim];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateBounded<SegmentFrames>(new BoundedChannelOptions(Math.Max(2, Math.Min(2 * perBatch, 64)))
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        // What the sampler delivered: the segments yielded (a prefix of the plan), the last frame time, and why it
        // stopped early when the stream ran out (a file cut short), which TruncationCheck weighs once encoding is done.
        var coverage = new DecodeCoverage();
        var producer = Task.Run(async () =>
        {
            try
            {
                await foreach (var item in FrameSampler.SampleAsync(path, segments, frames, size, sampling, stop.Token).ConfigureAwait(false))
                {
                    coverage.Add(item);
                    await channel.Writer.WriteAsync(item, stop.Token).ConfigureAwait(false);
                }
                channel.Writer.TryComplete();
            }
            catch (MediaException e) when (e.Kind == MediaErrorKind.Truncated && coverage.Segments > 0)
            {
                coverage.Stopped = e;
                channel.Writer.TryComplete();
            }
            catch (Exception e)
            {
                channel.Writer.TryComplete(e);
                throw;
            }
        }, CancellationToken.None);

        var consumer = Task.Factory.StartNew(() =>
        {
            var done = 0;
            var batch = new List<SegmentFrames>(perBatch);
            var reader = channel.Reader;
            while (reader.WaitToReadAsync(stop.Token).AsTask().GetAwaiter().GetResult())
            {
                batch.Clear();
                while (batch.Count < perBatch && reader.TryRead(out var item)) batch.Add(item);
                if (batch.Count == 0) continue;
                float[] rows;
                try { rows = encoder.Encode(batch); }
                catch (MediaException e) when (e.Input != path)
                {
                    throw new MediaException(path, MediaErrorKind.EncoderFailed, $"{encoder.Name}: {e.Problem}", e);
                }
                catch (Exception e) when (e is not (OperationCanceledException or MediaException))
                {
                    throw new MediaException(path, MediaErrorKind.EncoderFailed, $"{encoder.Name} failed: {e.Message}", e);
                }
                if (rows.Length != batch.Count * dim)
                    throw new MediaException(path, MediaErrorKind.EncoderFailed, $"{encoder.Name} returned {rows.Length} values for {batch.Count} segments of dimension {dim}");
                for (var i = 0; i < batch.Count; i++)
                {
                    var row = IndexOf(segments, batch[i].Segment);
                    if ((row + 1) * dim > embeddings.Length) Array.Resize(ref embeddings, Math.Min(segments.Count, Math.Max(2 * embeddings.Length / dim, row + 1)) * dim);
                    rows.AsSpan(i * dim, dim).CopyTo(embeddings.AsSpan(row * dim, dim));
                }
                done += batch.Count;
                progress?.Report((double)done / segments.Count);
            }
        }, stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        try
        {
            await consumer.ConfigureAwait(false);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try { await producer.ConfigureAwait(false); } catch { /* the consumer's error is the one to report */ }
            // a producer failure surfaces through the channel as the consumer's exception
            throw;
        }
        await producer.ConfigureAwait(false);

        var truncation = TruncationCheck.Assess(path, info, segments, frames, coverage, options);
        if (coverage.Segments < segments.Count) segments = segments.Take(coverage.Segments).ToList();
        if (embeddings.Length != segments.Count * dim) Array.Resize(ref embeddings, segments.Count * dim);
        return new EmbeddedVideo(info, segments, embeddings, dim, encoder.Name, encoder.Version)
        {
            FramesPerSegment = frames,
            FrameSize = size,
            Segmentation = options,
            Truncation = truncation,
        };
    }

    private static void RejectTooLong(string path, VideoInfo info, SegmentationOptions options)
    {
        if (info.DurationSeconds > options.MaxDurationSeconds)
            throw new MediaException(path, MediaErrorKind.TooLong, string.Create(CultureInfo.InvariantCulture,
                $"its container declares a duration of {info.DurationSeconds:0.#} s ({info.DurationSeconds / 3600:0.#} h), more than the {options.MaxDurationSeconds / 3600:0.##} h maximum (SegmentationOptions.MaxDurationSeconds)"));
    }

    private static int IndexOf(IReadOnlyList<SegmentSpan> segments, SegmentSpan segment)
    {
        // Segments are records computed on demand by the plan: compare by value.
        var guess = segment.Index - segments[0].Index;
        if (guess >= 0 && guess < segments.Count && segments[guess] == segment) return guess;
        for (var i = 0; i < segments.Count; i++)
            if (segments[i] == segment) return i;
        throw new InvalidOperationException("sampler returned a segment that was not asked for");
    }
}
