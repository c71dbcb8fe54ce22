using LvMae.Cli;
using LvMae.Cli.Commands;
using LvMae.Contracts;
using Spectre.Console.Testing;

namespace LvMae.Grains.Tests;

/// <summary>`lvmae export` / `lvmae probe`: start the work on the run, then poll until it is done (no cluster: scripted polls).</summary>
public sealed class StartAndWaitTests
{
    private static TrainingProgress Exporting(bool exporting) => new() { Run = "r", State = TrainingState.Done, Exporting = exporting };

    [Fact]
    public async Task Starts_once_before_polling_then_polls_until_finished()
    {
        var events = new List<string>();
        var polls = new Queue<TrainingProgress>([Exporting(true), Exporting(true), Exporting(false), Exporting(true)]);
        var last = await TrainingCli.StartAndWaitAsync(
            () => { events.Add("start"); return Task.CompletedTask; },
            () => { events.Add("poll"); return Task.FromResult(polls.Dequeue()); },
            p => !p.Exporting, view: null, TimeSpan.Zero, CancellationToken.None);
        Assert.False(last.Exporting);
        Assert.Equal(["start", "poll", "poll", "poll"], events);   // stops at the first finished poll
        Assert.Single(polls);
    }

    [Fact]
    public async Task With_a_view_the_probe_fits_are_shown_while_polling()
    {
        ProbeActivity Fit(int done) => new() { Step = 4, Column = "cls", Features = "lv-mae", Probe = "linear", Done = done, Total = 2 };
        var polls = new Queue<TrainingProgress>([
            new() { Run = "r", State = TrainingState.Done, Probing = true, ProbeActivity = Fit(1) },
            new() { Run = "r", State = TrainingState.Done, Probing = false },
        ]);
        var started = false;
        var console = new TestConsole();
        var last = await TrainingCli.StartAndWaitAsync(() => { started = true; return Task.CompletedTask; },
            () => { Assert.True(started); return Task.FromResult(polls.Dequeue()); },
            p => !p.Probing, new RunProgressView(console, live: false), TimeSpan.Zero, CancellationToken.None);
        Assert.False(last.Probing);
        Assert.Empty(polls);
        Assert.Contains(Fit(1).ToString(), console.Output);
    }

    [Fact]
    public async Task Cancellation_ends_the_wait()
    {
        using var cts = new CancellationTokenSource();
        var polls = 0;
        var wait = TrainingCli.StartAndWaitAsync(() => Task.CompletedTask,
            () => { if (++polls == 2) cts.Cancel(); return Task.FromResult(Exporting(true)); },
            p => !p.Exporting, view: null, TimeSpan.FromMilliseconds(10), cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.Equal(2, polls);
    }
}
