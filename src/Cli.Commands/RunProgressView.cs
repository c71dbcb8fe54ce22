using LvMae.Contracts;
using LvMae.Cli.Commands;
using Spectre.Console;

namespace LvMae.Cli;

/// <summary>
/// Follows a training run or its probes until they end: live bars (step, loss, tokens/s, ETA; then the probe's fits) when
/// the output is an interactive terminal, like `lvmae ingest`; one plain line per change when it is redirected (logs,
/// CI, pipes), where a redrawn bar would be noise.
/// </summary>
public sealed class RunProgressView(IAnsiConsole console, bool live)
{
    public static RunProgressView ForTerminal() =>
        new(AnsiConsole.Console, !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive);

    public bool Live => live;

    /// <summary>Polls <paramref name="poll"/> every <paramref name="interval"/> until <paramref name="finished"/> holds;
    /// returns the last progress. <paramref name="training"/>: show the run's steps (train --wait), not only its probes.</summary>
    public async Task<TrainingProgress> FollowAsync(Func<Task<TrainingProgress>> poll, Func<TrainingProgress, bool> finished, bool training,
        TimeSpan interval, CancellationToken cancellationToken)
    {
        if (!live) return await FollowPlainAsync(poll, finished, training, interval, cancellationToken);
        TrainingProgress last = null!;
        await console.Progress().AutoClear(false).AutoRefresh(false) // redrawn once per poll: nothing changes in between
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                ProgressTask? steps = null, fits = null;
                while (true)
                {
                    last = await poll();
                    if (training && last.TotalSteps > 0)
                    {
                        steps ??= ctx.AddTask("train", maxValue: last.TotalSteps);
                        steps.MaxValue = last.TotalSteps;
                        steps.Value = last.Step;
                        steps.Description = Markup.Escape(StepText(last));
                    }
                    if (last.ProbeActivity is { } a)
                    {
                        fits ??= ctx.AddTask("probe", maxValue: Math.Max(1, a.Total));
                        fits.MaxValue = Math.Max(1, a.Total);
                        fits.Value = a.Done;
                        fits.Description = Markup.Escape(a.ToString());
                    }
                    if (finished(last))
                    {
                        if (fits is not null) { fits.Value = fits.MaxValue; fits.Description = "probes done"; }
                        steps?.StopTask();
                        fits?.StopTask();
                        ctx.Refresh();
                        return;
                    }
                    ctx.Refresh();
                    await Task.Delay(interval, cancellationToken);
                }
            });
        if (training) console.WriteLine(TrainingCli.Line(last));
        return last;
    }

    private async Task<TrainingProgress> FollowPlainAsync(Func<Task<TrainingProgress>> poll, Func<TrainingProgress, bool> finished, bool training,
        TimeSpan interval, CancellationToken cancellationToken)
    {
        string? lastStep = null, lastFit = null;
        while (true)
        {
            var p = await poll();
            if (training && TrainingCli.Line(p) is var line && line != lastStep) console.WriteLine(lastStep = line);
            if (p.ProbeActivity?.ToString() is { } fit && fit != lastFit) console.WriteLine(lastFit = fit);
            if (finished(p)) return p;
            await Task.Delay(interval, cancellationToken);
        }
    }

    /// <summary>The bar's label: what a person watching training wants at a glance.</summary>
    public static string StepText(TrainingProgress p) =>
        $"{p.State} step {p.Step}/{p.TotalSteps} loss {p.Loss?.ToString("F4") ?? "-"} {p.TokensPerSecond?.ToString("F0") ?? "-"} tok/s " +
        $"eta {(p.Eta is { } e ? e.ToString(@"hh\:mm\:ss") : "-")}";
}
