using System.Diagnostics;
using System.Globalization;

namespace LvMae.Media;

/// <summary>
/// Time limits for ffprobe and ffmpeg. A tool past one is killed with its whole process tree and the input fails as
/// <see cref="MediaErrorKind.TimedOut"/>, so a hung decode cannot hold a job slot for hours.
/// </summary>
public sealed record ToolTimeouts
{
    public static ToolTimeouts Default { get; } = new();

    /// <summary>ffprobe, fixed: a local file is analysed in well under a second.</summary>
    public TimeSpan Probe { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>ffmpeg: the longest wait for its next bytes of output (a hung decoder, an input that never delivers).</summary>
    public TimeSpan NoProgress { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>ffmpeg: the fixed part of the total time one run may keep its reader waiting (see <see cref="DecodeLimit"/>).</summary>
    public TimeSpan DecodeBase { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>ffmpeg: waiting allowed per second of video the run covers, on top of <see cref="DecodeBase"/> (2 = half real time).</summary>
    public double DecodeSecondsPerVideoSecond { get; init; } = 2.0;

    /// <summary>
    /// The total time an ffmpeg run covering <paramref name="videoSeconds"/> may keep its reader waiting. Only waits count:
    /// time the consumer (the encoder) spends before asking for more frames does not, so a slow encoder is never a timeout.
    /// </summary>
    public TimeSpan DecodeLimit(double videoSeconds) =>
        DecodeBase + TimeSpan.FromSeconds(Math.Max(0, videoSeconds) * DecodeSecondsPerVideoSecond);

    internal static string Describe(TimeSpan span) =>
        span.TotalSeconds < 120 ? $"{span.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s"
                                : $"{span.TotalMinutes.ToString("0.#", CultureInfo.InvariantCulture)} min";
}

/// <summary>
/// Watches one ffmpeg run: a timer that runs only while the reader waits for the tool, firing after
/// <see cref="ToolTimeouts.NoProgress"/> without output or once the waits add up to the run's budget. When it fires the
/// process tree is killed (its pipes close, so the waiting read returns) and <see cref="Expired"/> says why.
/// </summary>
internal sealed class ToolWatchdog : IDisposable
{
    private readonly Process _process;
    private readonly TimeSpan _noProgress;
    private readonly TimeSpan _budget;
    private readonly CancellationTokenSource _timer = new();
    private readonly Stopwatch _waited = new();
    private readonly CancellationTokenRegistration _registration;
    private bool _armedForBudget;
    private volatile string? _expired;

    public ToolWatchdog(Process process, TimeSpan noProgress, TimeSpan budget)
    {
        _process = process;
        _noProgress = noProgress;
        _budget = budget;
        _registration = _timer.Token.Register(() =>
        {
            _expired = _armedForBudget
                ? $"was still decoding after {ToolTimeouts.Describe(_budget)} (the limit for this much video)"
                : $"made no progress for {ToolTimeouts.Describe(_noProgress)}";
            ToolProcess.KillTree(_process);
        });
    }

    /// <summary>Why the tool was killed, or null while it is within its limits.</summary>
    public string? Expired => _expired;

    /// <summary>Call before waiting on the tool: arms the timer for whichever limit comes first.</summary>
    public void Waiting()
    {
        var left = _budget - _waited.Elapsed;
        if (left <= TimeSpan.Zero) left = TimeSpan.FromMilliseconds(1);
        _armedForBudget = left < _noProgress;
        _waited.Start();
        _timer.CancelAfter(_armedForBudget ? left : _noProgress);
    }

    /// <summary>Call when the wait is over (output arrived, or the stream ended): stops the clock.</summary>
    public void Progressed()
    {
        _waited.Stop();
        _timer.CancelAfter(Timeout.InfiniteTimeSpan);
    }

    public void Dispose()
    {
        _registration.Dispose();
        _timer.Dispose();
    }
}

/// <summary>Starting and stopping ffprobe/ffmpeg processes.</summary>
internal static class ToolProcess
{
    /// <summary>Starts <paramref name="start"/>; a missing binary becomes <see cref="MediaErrorKind.ToolMissing"/> naming the input.</summary>
    public static Process Start(ProcessStartInfo start, string input, string tool)
    {
        try
        {
            return Process.Start(start) ?? throw new MediaException(input, MediaErrorKind.ToolFailed, $"{tool} did not start");
        }
        catch (Exception e) when (FfmpegTool.IsToolMissing(e)) { throw FfmpegTool.Missing(input, tool, e); }
    }

    /// <summary>Kills the process and every process it started (a wrapper script's children hold its pipes open).</summary>
    public static void KillTree(Process process)
    {
        try { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { /* already gone */ }
        catch (System.ComponentModel.Win32Exception) { /* already gone */ }
    }

    public static MediaException TimedOut(string input, string tool, string what) =>
        new(input, MediaErrorKind.TimedOut, $"{tool} timed out: it {what}; killed it");
}
