using System.Diagnostics.Metrics;
using LvMae.Model;
using LvMae.Model.Training;
using LvMae.Pipeline.Telemetry;
using static LvMae.Pipeline.Tests.TestCorpus;

namespace LvMae.Pipeline.Tests;

/// <summary>The training loop's measurements (exported at /metrics): one feed batch, feed wait and step time per step,
/// and the tokens trained on.</summary>
public sealed class TrainingMetricsTests
{
    [Fact]
    public async Task Each_step_records_a_batch_its_feed_wait_its_step_time_and_its_tokens()
    {
        const int dim = 4;
        var (source, loader) = InMemory(24, dim);
        using var trainer = new Trainer(new TrainerOptions { Model = MaeConfig.FromPreset("tiny", dim, maxTokens: 32), AbsoluteLr = 1e-3, WarmupSteps = 1, TotalSteps = 5, Seed = 1 }, "cpu");
        await using var feed = TrainingFeed.Start(source, loader, Options(dim, epochs: null));
        var steps = 0;
        long tokens = 0;

        // Only this test's thread: other tests may train in parallel and record into the same instruments.
        var thread = Environment.CurrentManagedThreadId;
        var seen = new Dictionary<string, (int Count, double Sum)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == LvMaeMetrics.MeterName) l.EnableMeasurementEvents(instrument); };
        void Record(Instrument instrument, double value)
        {
            if (Environment.CurrentManagedThreadId != thread) return;
            lock (seen) seen[instrument.Name] = seen.TryGetValue(instrument.Name, out var s) ? (s.Count + 1, s.Sum + value) : (1, value);
        }
        listener.SetMeasurementEventCallback<double>((i, v, _, _) => Record(i, v));
        listener.SetMeasurementEventCallback<long>((i, v, _, _) => Record(i, v));
        listener.Start();

        FeedTraining.Run(trainer, feed, totalSteps: 5, new FeedPosition(0, 0), (result, _) => { steps++; tokens += result.Tokens; return true; }, CancellationToken.None);

        Assert.Equal(5, steps);
        Assert.Equal((5, 5.0), seen["lvmae.training.feed.batches"]);
        Assert.Equal(5, seen["lvmae.training.feed.wait.duration"].Count);
        Assert.Equal(5, seen["lvmae.training.step.duration"].Count);
        Assert.True(seen["lvmae.training.step.duration"].Sum > 0);
        Assert.Equal(tokens, (long)seen["lvmae.training.tokens"].Sum);
    }
}
