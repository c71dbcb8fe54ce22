using System.Threading.Tasks.Dataflow;
using static LvMae.Pipeline.Tests.TestCorpus;

namespace LvMae.Pipeline.Tests;

public class TrainingFeedTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int D = 4;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Every_video_arrives_once_per_epoch_with_bounded_buffers_on_a_large_corpus()
    {
        const int videos = 2000;
        var (source, inner) = InMemory(videos, D);
        var loader = new InstrumentedLoader(inner);
        var options = Options(D, epochs: 2);
        await using var feed = TrainingFeed.Start(source, loader, options);

        // A consumer slower than the loaders, so every buffer fills; count loaded-but-not-consumed samples.
        var seen = new Dictionary<long, List<string>>();
        long consumed = 0, peakOutstanding = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var batch in feed.ReadAllAsync(cts.Token))
        {
            peakOutstanding = Math.Max(peakOutstanding, loader.Loaded - consumed);
            consumed += batch.Count;
            (seen.TryGetValue(batch.Epoch, out var ids) ? ids : seen[batch.Epoch] = []).AddRange(batch.VideoIds);
            if (batch.IndexInEpoch % 8 == 0) await Task.Delay(1);
        }

        Assert.Equal([0L, 1L], seen.Keys.Order());
        var all = Enumerable.Range(0, videos).Select(Id).ToHashSet();
        foreach (var ids in seen.Values)
        {
            Assert.Equal(videos, ids.Count);
            Assert.True(all.SetEquals(ids));
        }
        output.WriteLine($"peak loaded-not-consumed {peakOutstanding}, peak in pipeline {feed.Stats.PeakSamplesInPipeline}, " +
                         $"peak concurrent loads {loader.PeakConcurrentLoads}, bound {options.MaxSamplesInFlight}");
        // The slow consumer must have filled the buffers (else the bound was never tested) and they stayed bounded.
        Assert.InRange(peakOutstanding, options.MaxBatchSize * 2, options.MaxSamplesInFlight);
        Assert.InRange(feed.Stats.PeakSamplesInPipeline, 1, options.MaxSamplesInFlight);
        Assert.InRange(loader.PeakConcurrentLoads, 1, options.LoadParallelism);
        Assert.True(options.MaxSamplesInFlight < videos / 20, "the bound must be far below the corpus size for this test to mean anything");
        Assert.Equal(2 * videos, feed.Stats.SamplesEmitted);
    }

    [Fact]
    public async Task Same_seed_gives_identical_batches_whatever_the_load_parallelism_and_timing()
    {
        var (source, inner) = InMemory(150, D);
        var serial = await CollectAsync(TrainingFeed.Start(source, inner, Options(D, seed: 7, epochs: 2) with { LoadParallelism = 1 }));
        var parallel = await CollectAsync(TrainingFeed.Start(source, new InstrumentedLoader(inner, maxDelayMs: 3, delaySeed: 5),
            Options(D, seed: 7, epochs: 2) with { LoadParallelism = 6 }));
        var other = await CollectAsync(TrainingFeed.Start(source, inner, Options(D, seed: 8, epochs: 2)));

        Assert.Equal(serial.Count, parallel.Count);
        for (var i = 0; i < serial.Count; i++)
        {
            Assert.Equal(serial[i].VideoIds, parallel[i].VideoIds);
            Assert.Equal(serial[i].Lengths, parallel[i].Lengths);
            Assert.Equal(serial[i].Embeddings, parallel[i].Embeddings);
            Assert.Equal(serial[i].Epoch, parallel[i].Epoch);
        }
        Assert.NotEqual(serial.SelectMany(b => b.VideoIds), other.SelectMany(b => b.VideoIds));
    }

    [Fact]
    public async Task A_resumed_run_starting_at_a_later_epoch_gets_the_same_batches_as_the_uninterrupted_run()
    {
        var (source, loader) = InMemory(80, D);
        var full = await CollectAsync(TrainingFeed.Start(source, loader, Options(D, seed: 3, epochs: 3)));
        var resumed = await CollectAsync(TrainingFeed.Start(source, loader, Options(D, seed: 3, epochs: 1) with { FirstEpoch = 2 }));
        var expected = full.Where(b => b.Epoch == 2).ToList();
        Assert.Equal(expected.Count, resumed.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal((2L, expected[i].IndexInEpoch), (resumed[i].Epoch, resumed[i].IndexInEpoch));
            Assert.Equal(expected[i].VideoIds, resumed[i].VideoIds);
            Assert.Equal(expected[i].Embeddings, resumed[i].Embeddings);
        }
    }

    [Fact]
    public async Task A_run_resumed_inside_an_epoch_reads_only_the_remaining_batches_and_gets_the_uninterrupted_runs()
    {
        var (source, inner) = InMemory(120, D);
        var full = await CollectAsync(TrainingFeed.Start(source, inner, Options(D, seed: 9, epochs: 3)));
        const int resumeAt = 5;   // a checkpoint taken after batch 4 of epoch 1
        var counting = new InstrumentedLoader(inner);
        var resumed = await CollectAsync(TrainingFeed.Start(source, counting,
            Options(D, seed: 9, epochs: 2) with { FirstEpoch = 1, FirstIndexInEpoch = resumeAt }));

        var expected = full.Where(b => b.Epoch == 2 || (b.Epoch == 1 && b.IndexInEpoch >= resumeAt)).ToList();
        Assert.Equal(expected.Select(b => (b.Epoch, b.IndexInEpoch)), resumed.Select(b => (b.Epoch, b.IndexInEpoch)));
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].VideoIds, resumed[i].VideoIds);
            Assert.Equal(expected[i].Embeddings, resumed[i].Embeddings);
        }
        Assert.Equal(expected.Sum(b => b.Count), counting.Loaded);   // the batches before the checkpoint were planned, not read
    }

    [Fact]
    public async Task Bucketed_batches_hold_every_video_once_per_epoch_with_the_same_windows_and_far_less_padding()
    {
        var (source, loader) = InMemory(400, D);
        var bucketed = await CollectAsync(TrainingFeed.Start(source, loader, Options(D, epochs: 2)));
        var inOrder = await CollectAsync(TrainingFeed.Start(source, loader, Options(D, epochs: 2) with { BucketByLength = false }));

        foreach (var epoch in new[] { 0L, 1L })
            Assert.Equal(Enumerable.Range(0, 400).Select(Id), bucketed.Where(b => b.Epoch == epoch).SelectMany(b => b.VideoIds).Order());
        // Bucketing regroups the epoch's windows; each video's window is the same either way.
        Dictionary<(long, string), float[]> Windows(IEnumerable<TrainingBatch> batches) => batches
            .SelectMany(b => Enumerable.Range(0, b.Count).Select(i => ((b.Epoch, b.VideoIds[i]), b.Embeddings.AsSpan(i * b.MaxLength * D, b.Lengths[i] * D).ToArray())))
            .ToDictionary(x => x.Item1, x => x.Item2);
        var (mine, theirs) = (Windows(bucketed), Windows(inOrder));
        Assert.Equal(theirs.Keys.Order(), mine.Keys.Order());
        Assert.All(mine, kv => Assert.Equal(theirs[kv.Key], kv.Value));

        double Valid(List<TrainingBatch> batches) => (double)batches.Sum(b => b.ValidTokens) / batches.Sum(b => b.PaddedTokens);
        output.WriteLine($"valid tokens: bucketed {Valid(bucketed):P1}, shuffle order {Valid(inOrder):P1}");
        Assert.True(Valid(bucketed) > 0.95, $"bucketed batches are {Valid(bucketed):P1} valid tokens");
        Assert.True(Valid(inOrder) < 0.8, $"batches in shuffle order are {Valid(inOrder):P1} valid tokens");
    }

    [Fact]
    public async Task Videos_listed_without_a_segment_count_are_planned_from_their_header_read_once_per_feed()
    {
        var (source, loader) = InMemory(60, D);
        var unlisted = new InMemoryEmbeddedVideoSource(Enumerable.Range(0, 60).Select(k => new EmbeddedVideoDescriptor(Id(k), Encoder)));
        var counting = new InstrumentedLoader(loader);
        var known = await CollectAsync(TrainingFeed.Start(source, loader, Options(D, epochs: 3)));
        var learned = await CollectAsync(TrainingFeed.Start(unlisted, counting, Options(D, epochs: 3)));

        Assert.Equal(known.Select(b => (b.Epoch, b.IndexInEpoch)), learned.Select(b => (b.Epoch, b.IndexInEpoch)));
        for (var i = 0; i < known.Count; i++)
        {
            Assert.Equal(known[i].VideoIds, learned[i].VideoIds);
            Assert.Equal(known[i].Embeddings, learned[i].Embeddings);
        }
        Assert.Equal(60 + 3 * 60, counting.Loaded);   // each header once, then one window per video per epoch
    }

    [Fact]
    public async Task Each_epoch_is_a_different_shuffle_with_different_windows()
    {
        var (source, loader) = InMemory(100, D);
        var batches = await CollectAsync(TrainingFeed.Start(source, loader, Options(D, epochs: 2)));
        var order0 = batches.Where(b => b.Epoch == 0).SelectMany(b => b.VideoIds).ToList();
        var order1 = batches.Where(b => b.Epoch == 1).SelectMany(b => b.VideoIds).ToList();
        Assert.Equal(order0.Order(), order1.Order());
        Assert.NotEqual(order0, order1);
        Assert.NotEqual(order0, order0.Order()); // shuffled, not listing order
        Assert.All(batches, b => Assert.True(b.Epoch is 0 or 1));
        Assert.Equal(Enumerable.Range(0, batches.Count(b => b.Epoch == 1)), batches.Where(b => b.Epoch == 1).Select(b => b.IndexInEpoch));
    }

    [Fact]
    public async Task Batches_respect_sample_count_and_token_budget_with_zero_padding_and_true_lengths()
    {
        var (source, loader) = InMemory(300, D);
        var options = Options(D) with { MaxBatchSize = 6, TokenBudget = 100 };
        var batches = await CollectAsync(TrainingFeed.Start(source, loader, options));

        Assert.Contains(batches, b => b.Count == options.MaxBatchSize);
        Assert.Contains(batches, b => b.Count < options.MaxBatchSize && b.Count * (b.MaxLength + 8) > options.TokenBudget); // budget closed it
        foreach (var batch in batches)
        {
            Assert.InRange(batch.Count, 1, options.MaxBatchSize);
            Assert.True(batch.PaddedTokens <= options.TokenBudget, $"{batch.Count} x {batch.MaxLength} > {options.TokenBudget}");
            Assert.Equal(batch.Lengths.Max(), batch.MaxLength);
            Assert.Equal(batch.Count * batch.MaxLength * D, batch.Embeddings.Length);
            for (var b = 0; b < batch.Count; b++)
            {
                var k = Number(batch.VideoIds[b]);
                var segments = SegmentsOf(k);
                int? previous = null;
                for (var t = 0; t < batch.MaxLength; t++)
                {
                    var row = batch.Embeddings.AsSpan((b * batch.MaxLength + t) * D, D);
                    if (!batch.IsValid(b, t)) { Assert.True(row.ToArray().All(v => v == 0), "padding must be zeros"); continue; }
                    Assert.Equal(k + 1, row[1]);
                    var segment = (int)row[0] - 1;
                    Assert.InRange(segment, 0, segments - 1);
                    if (previous is { } p) Assert.Equal((p + 1) % segments, segment); // a contiguous (tiled) window
                    previous = segment;
                }
            }
        }
    }

    [Fact]
    public async Task Missing_and_invalid_embeddings_are_reported_with_the_video_id_and_skipped()
    {
        var (source, loader) = InMemory(50, D);
        source.Add(new EmbeddedVideoDescriptor("ghost", Encoder, 3, D));          // listed, nothing to load
        source.Add(new EmbeddedVideoDescriptor("wide", Encoder, 3, D * 2));      // wrong width for this run
        loader.Add(new LoadedEmbeddings("wide", new float[3 * D * 2], 3, D * 2));
        var skipped = new RecordingProgress<SkippedVideo>();

        await using var feed = TrainingFeed.Start(source, loader, Options(D, epochs: 2), skipped);
        var batches = await CollectAsync(feed);

        Assert.Equal(100, batches.Sum(b => b.Count));
        Assert.DoesNotContain(batches.SelectMany(b => b.VideoIds), id => id is "ghost" or "wide");
        Assert.Equal(4, feed.Stats.VideosSkipped);
        Assert.Equal(["ghost", "ghost", "wide", "wide"], skipped.Items.Select(s => s.VideoId).Order());
        Assert.Contains(skipped.Items, s => s.VideoId == "wide" && s.Reason.Contains("dimension 8"));
        Assert.Equal([0L, 1L], skipped.Items.Where(s => s.VideoId == "ghost").Select(s => s.Epoch).Order());
    }

    [Fact]
    public async Task A_run_where_every_load_fails_faults_instead_of_skipping_forever()
    {
        var source = new InMemoryEmbeddedVideoSource(Enumerable.Range(0, 10).Select(k => Descriptor(k, D)));
        var feed = TrainingFeed.Start(source, new InMemoryEmbeddingLoader(), Options(D, epochs: null) with { MaxConsecutiveFailures = 25 });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => CollectAsync(feed, Timeout));
        Assert.Contains("last 25 loads all failed", error.Message);
        Assert.True(feed.Completion.IsFaulted);
        Assert.InRange(feed.Stats.VideosSkipped, 25, 25 + Options(D).LoadParallelism); // loads already in flight may fail too
    }

    [Fact]
    public async Task Videos_added_during_a_run_join_the_next_epoch()
    {
        var (source, loader) = InMemory(200, D);
        await using var feed = TrainingFeed.Start(source, loader, Options(D, epochs: 3));
        var perEpoch = new Dictionary<long, HashSet<string>>();
        using var cts = new CancellationTokenSource(Timeout);
        await foreach (var batch in feed.ReadAllAsync(cts.Token))
        {
            if (perEpoch.Count == 0) // first batch: the producer is still inside epoch 0 (bounded buffers)
            {
                source.Add(Descriptor(500, D));
                loader.Add(Embeddings(500, D));
            }
            (perEpoch.TryGetValue(batch.Epoch, out var ids) ? ids : perEpoch[batch.Epoch] = []).UnionWith(batch.VideoIds);
        }
        Assert.DoesNotContain(Id(500), perEpoch[0]);
        Assert.Contains(Id(500), perEpoch[1]);
        Assert.Contains(Id(500), perEpoch[2]);
    }

    [Fact]
    public async Task Labels_travel_with_their_samples()
    {
        var source = new InMemoryEmbeddedVideoSource();
        var loader = new InMemoryEmbeddingLoader();
        for (var k = 0; k < 20; k++)
        {
            source.Add(Descriptor(k, D, k % 2 == 0 ? new Dictionary<string, string> { ["class"] = $"c{k % 3}" } : null));
            loader.Add(Embeddings(k, D));
        }
        var batches = await CollectAsync(TrainingFeed.Start(source, loader, Options(D)));
        foreach (var batch in batches)
            for (var b = 0; b < batch.Count; b++)
            {
                var k = Number(batch.VideoIds[b]);
                Assert.Equal(k % 2 == 0 ? $"c{k % 3}" : null, batch.Labels?[b]?["class"]);
            }
        Assert.Contains(batches, b => b.Labels is not null);
    }

    [Fact]
    public async Task Cancellation_completes_an_endless_feed_without_deadlock()
    {
        var (source, loader) = InMemory(100, D);
        using var cts = new CancellationTokenSource();
        var feed = TrainingFeed.Start(source, loader, Options(D, epochs: null), cancellationToken: cts.Token);
        var received = 0;
        var reading = Task.Run(async () =>
        {
            await foreach (var _ in feed.ReadAllAsync())
                if (++received == 30) cts.Cancel();
        });

        var finished = await Task.WhenAny(reading, Task.Delay(Timeout));
        Assert.Same(reading, finished);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => feed.Completion.WaitAsync(Timeout));
        Assert.True(received >= 30);
    }

    [Fact]
    public async Task A_faulting_consumer_block_cancels_the_feed_instead_of_blocking_it()
    {
        var (source, loader) = InMemory(400, D);
        var feed = TrainingFeed.Start(source, loader, Options(D, epochs: null));
        var steps = 0;
        var trainer = new ActionBlock<TrainingBatch>(_ =>
        {
            if (++steps == 5) throw new InvalidOperationException("training step exploded");
        }, new ExecutionDataflowBlockOptions { BoundedCapacity = 1 });
        feed.LinkTo(trainer);

        var trainerError = await Assert.ThrowsAsync<InvalidOperationException>(() => trainer.Completion.WaitAsync(Timeout));
        Assert.Equal("training step exploded", trainerError.Message);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => feed.Completion.WaitAsync(Timeout));
    }

    [Fact]
    public async Task An_exception_in_the_consumer_loop_stops_the_feed()
    {
        var (source, loader) = InMemory(400, D);
        var feed = TrainingFeed.Start(source, loader, Options(D, epochs: null));
        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var batch in feed.ReadAllAsync())
                if (batch.IndexInEpoch == 3) throw new InvalidOperationException("step failed");
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => feed.Completion.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_dedicated_training_thread_reads_blocking_and_stopping_early_cancels_the_feed()
    {
        var (source, loader) = InMemory(400, D);
        var feed = TrainingFeed.Start(source, loader, Options(D, epochs: null));
        var tokens = 0L;
        var thread = new Thread(() =>
        {
            foreach (var batch in feed.ReadAllBlocking())
            {
                var trainerView = batch.ToEmbeddingBatch();
                tokens += trainerView.TotalTokens;
                if (batch.IndexInEpoch == 5) break;
            }
        });
        thread.Start();
        Assert.True(thread.Join(Timeout));
        Assert.True(tokens > 0);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => feed.Completion.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_failing_source_faults_the_feed_and_the_reader_sees_why()
    {
        var feed = TrainingFeed.Start(new FailingSource(), new InMemoryEmbeddingLoader(), Options(D));
        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            await foreach (var _ in feed.ReadAllAsync(new CancellationTokenSource(Timeout).Token)) { }
        });
        Assert.Equal("index unreachable", error.Message);
        await Assert.ThrowsAnyAsync<Exception>(() => feed.Completion.WaitAsync(Timeout));
        Assert.True(feed.Completion.IsFaulted);
    }

    [Fact]
    public void Options_that_could_never_batch_a_full_window_are_rejected_up_front()
    {
        var (source, loader) = InMemory(1, D);
        var error = Assert.Throws<ArgumentException>(() =>
            TrainingFeed.Start(source, loader, Options(D) with { TokenBudget = 16 }));
        Assert.Contains("TokenBudget 16", error.Message);
    }

    private sealed class FailingSource : IEmbeddedVideoSource
    {
        public async IAsyncEnumerable<EmbeddedVideoDescriptor> ListAsync(string encoder,
            [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            yield return new EmbeddedVideoDescriptor("v", encoder, 1, D);
            await Task.Yield();
            throw new IOException("index unreachable");
        }
    }
}
