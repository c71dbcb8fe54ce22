using LvMae.Cli;

using LvMae.Contracts;
using Spectre.Console.Testing;

namespace LvMae.Grains.Tests;

/// <summary>`train --wait` / `probe` progress: bars on a terminal, plain lines when redirected, over a scripted run.</summary>
public sealed class RunProgressViewTests
{
    /// <summary>A run that trains 3 polls, then probes 2 polls, then is Done.</summary>
    private static Func<Task<TrainingProgress>> Script()
    {
        var polls = new[]
        {
            Progress(TrainingState.Training, 10, 1.2),
            Progress(TrainingState.Training, 50, 0.9),
            Progress(TrainingState.Training, 100, 0.8) with { Probing = true, ProbeActivity = Fit(0) },
            Progress(TrainingState.Done, 100, 0.8) with { Probing = true, ProbeActivity = Fit(4) },
            Progress(TrainingState.Done, 100, 0.8),
        };
        var i = 0;
        return () => Task.FromResult(polls[Math.Min(i++, polls.Length - 1)]);
    }

    private static TrainingProgress Progress(TrainingState state, long step, double loss) => new()
    {
        Run = "r", State = state, Step = step, TotalSteps = 100, Loss = loss, TokensPerSecond = 1234, Eta = TimeSpan.FromSeconds(100 - step),
    };

    private static ProbeActivity Fit(int done) => new() { Step = 100, Column = "recipe", Features = "lv-mae", Probe = "attentive", Done = done, Total = 9 };

    private static bool Finished(TrainingProgress p) => p.State != TrainingState.Training && !p.Probing;

    [Fact]
    public async Task Redirected_output_gets_one_plain_line_per_change()
    {
        var console = new TestConsole();
        var last = await new RunProgressView(console, live: false).FollowAsync(Script(), Finished, training: true, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal(TrainingState.Done, last.State);
        var lines = console.Lines.Where(l => l.Length > 0).ToList();
        Assert.Contains(lines, l => l.StartsWith("Training step 10/100 epoch 0 loss 1.2000"));
        Assert.Contains(lines, l => l.StartsWith("Training step 50/100"));
        Assert.Contains("probe 0/9 of step 100: recipe, lv-mae attentive", lines);
        Assert.Contains("probe 4/9 of step 100: recipe, lv-mae attentive", lines);
        Assert.Single(lines, l => l.StartsWith("Done step 100/100")); // unchanged polls print nothing
        Assert.DoesNotContain(console.Output, c => c == '\u001b'); // no escape sequences in a log
    }

    [Fact]
    public async Task A_terminal_gets_bars_for_steps_and_probe_fits_and_the_final_line()
    {
        var console = new TestConsole().Interactive().EmitAnsiSequences();
        console.Profile.Width = 160;
        var last = await new RunProgressView(console, live: true).FollowAsync(Script(), Finished, training: true, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal(TrainingState.Done, last.State);
        Assert.Contains("Training step 50/100 loss 0.9000 1234 tok/s eta 00:00:50", console.Output);
        Assert.Contains("probe 4/9 of step 100: recipe, lv-mae attentive", console.Output);
        Assert.Contains("probes done", console.Output);
        Assert.Contains("━", console.Output); // a drawn bar
        Assert.Contains("Done step 100/100 epoch 0 loss 0.8000", console.Output); // the plain summary after the bars
    }

    [Fact]
    public async Task A_probe_alone_shows_no_training_bar()
    {
        var console = new TestConsole();
        await new RunProgressView(console, live: false).FollowAsync(Script(), p => !p.Probing && p.State == TrainingState.Done, training: false,
            TimeSpan.Zero, CancellationToken.None);
        Assert.DoesNotContain("step 10/100", console.Output);
        Assert.Contains("probe 4/9", console.Output);
    }
}
