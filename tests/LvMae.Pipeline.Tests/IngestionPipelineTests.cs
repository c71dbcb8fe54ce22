namespace LvMae.Pipeline.Tests;

public class IngestionPipelineTests
{
    [Fact]
    public async Task Processes_every_file_within_the_parallelism_and_captures_each_failure()
    {
        var files = Enumerable.Range(0, 200).Select(i => $"f{i:D3}.mp4");
        int active = 0, peak = 0;
        var progress = new RecordingProgress<IngestionProgress<string>>();

        var summary = await IngestionPipeline.RunAsync(files, async (file, ct) =>
        {
            InstrumentedLoader.InterlockedMax(ref peak, Interlocked.Increment(ref active));
            try
            {
                await Task.Delay(1, ct);
                if (file.EndsWith("7.mp4")) throw new InvalidDataException($"{file}: not a video");
                return "id-" + file;
            }
            finally { Interlocked.Decrement(ref active); }
        }, maxParallel: 5, progress);

        Assert.Equal(200, summary.Outcomes.Count);
        Assert.Equal(20, summary.Failed);
        Assert.Equal(180, summary.Succeeded);
        Assert.All(summary.Failures, f => Assert.IsType<InvalidDataException>(f.Error));
        Assert.All(summary.Outcomes.Where(o => o.Succeeded), o => Assert.Equal("id-" + o.File, o.Result));
        Assert.InRange(peak, 1, 5);
        Assert.Equal(200, progress.Items.Count);
        Assert.Equal((200, 20), (progress.Items.Max(p => p.Completed), progress.Items.Max(p => p.Failed)));
    }

    [Fact]
    public async Task Enumerates_lazily_so_a_huge_listing_is_never_buffered()
    {
        long enumerated = 0, completed = 0, peakAhead = 0;
        IEnumerable<string> Files()
        {
            for (var i = 0; i < 500; i++)
            {
                var ahead = Interlocked.Increment(ref enumerated) - Interlocked.Read(ref completed);
                peakAhead = Math.Max(peakAhead, ahead);
                yield return $"f{i}";
            }
        }

        await IngestionPipeline.RunAsync(Files(), async (_, _) =>
        {
            await Task.Yield();
            Interlocked.Increment(ref completed);
            return 0;
        }, maxParallel: 3);
        Assert.InRange(peakAhead, 1, 3 * 3 + 1); // running (3) + queued (6) + the one being offered
    }

    [Fact]
    public async Task Cancellation_stops_enumeration_and_is_rethrown_without_hanging()
    {
        using var cts = new CancellationTokenSource();
        var started = 0;
        var run = IngestionPipeline.RunAsync(Enumerable.Range(0, 100_000).Select(i => $"f{i}"), async (_, ct) =>
        {
            if (Interlocked.Increment(ref started) == 10) cts.Cancel();
            await Task.Delay(5, ct);
            return 0;
        }, maxParallel: 4, cancellationToken: cts.Token);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.InRange(started, 10, 30);
    }
}
