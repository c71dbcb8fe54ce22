using System.Diagnostics;
using LvMae.Testing;

namespace LvMae.Media.Tests;

/// <summary>
/// ffprobe/ffmpeg that hang: stub scripts put first on PATH (so this runs in the serial collection) that start a child
/// and never finish. Each must be killed with its whole process tree once its limit passes, and the input fail as
/// TimedOut naming it.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class HungToolTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-hung-").FullName;
    private readonly string _pids;
    private readonly string? _path = Environment.GetEnvironmentVariable("PATH");

    public HungToolTests()
    {
        _pids = Path.Combine(_dir, "pids");
        Environment.SetEnvironmentVariable("LVMAE_STUB_PIDS", _pids);
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("PATH", _path);
        Environment.SetEnvironmentVariable("LVMAE_STUB_PIDS", null);
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Puts an executable <paramref name="tool"/> script first on PATH; it records its pid and its child's, then runs <paramref name="body"/>.</summary>
    private void Stub(string tool, string body)
    {
        var bin = Path.Combine(_dir, "bin");
        Directory.CreateDirectory(bin);
        var script = Path.Combine(bin, tool);
        File.WriteAllText(script, $"#!/bin/sh\necho $$ >> \"$LVMAE_STUB_PIDS\"\n{body}\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Environment.SetEnvironmentVariable("PATH", bin + ":" + _path);
    }

    private const string HangWithChild = "sleep 300 &\necho $! >> \"$LVMAE_STUB_PIDS\"\nwait";
    private const string TrickleForever = "while :; do printf x; sleep 0.05; done &\necho $! >> \"$LVMAE_STUB_PIDS\"\nwait";

    private async Task<string> VideoAsync()
    {
        var video = Path.Combine(_dir, "v.mp4");
        await TestVideos.GenerateAsync(video, 2); // before the stub shadows ffmpeg
        return video;
    }

    /// <summary>Every process the stub recorded (the script and its child) is gone: not running, not a zombie left behind.</summary>
    private async Task AssertTreeKilledAsync()
    {
        var pids = File.ReadAllLines(_pids).Select(int.Parse).ToList();
        Assert.Equal(2, pids.Count);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10); // SIGKILL lands asynchronously; poll its effect, bounded
        while (pids.Any(Running) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.All(pids, pid => Assert.False(Running(pid), $"process {pid} of the stub still runs"));
    }

    private static bool Running(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] is not ("Z" or "X"); }
        catch (IOException) { return false; }
    }

    /// <summary>Samples the 2 s video's one segment (2 frames of 16 x 16: 768 bytes each) to the end.</summary>
    private static async Task SampleAllAsync(string video, FrameSamplingOptions options)
    {
        await foreach (var _ in FrameSampler.SampleAsync(video, [new SegmentSpan(0, 0, 2)], 2, 16, options)) { }
    }

    [Fact]
    public async Task A_hung_ffprobe_is_killed_with_its_children_after_the_probe_limit()
    {
        var video = await VideoAsync();
        Stub("ffprobe", HangWithChild);
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoInspector.InspectAsync(video, new ToolTimeouts { Probe = TimeSpan.FromSeconds(1) }, default));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "it did not wait for the stub's 300 s");
        Assert.Equal(MediaErrorKind.TimedOut, error.Kind);
        Assert.False(error.IsPermanent);
        Assert.Equal(video, error.Input);
        Assert.Contains("ffprobe timed out: it did not finish within 1 s; killed it", error.Message);
        await AssertTreeKilledAsync();
    }

    [Fact]
    public async Task The_embedder_probes_under_the_same_limits()
    {
        var video = await VideoAsync();
        Stub("ffprobe", HangWithChild);
        using var encoder = new BuiltinEncoder();
        var sampling = new FrameSamplingOptions { Timeouts = new ToolTimeouts { Probe = TimeSpan.FromSeconds(1) } };
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(video, encoder, new SegmentationOptions(), sampling, null, default));
        Assert.Equal(MediaErrorKind.TimedOut, error.Kind);
        await AssertTreeKilledAsync();
    }

    [Fact]
    public async Task An_ffmpeg_that_writes_nothing_is_killed_after_the_no_progress_limit()
    {
        var video = await VideoAsync();
        Stub("ffmpeg", HangWithChild);
        var options = new FrameSamplingOptions { Timeouts = new ToolTimeouts { NoProgress = TimeSpan.FromSeconds(1) } };
        var error = await Assert.ThrowsAsync<MediaException>(() => SampleAllAsync(video, options));
        Assert.Equal(MediaErrorKind.TimedOut, error.Kind);
        Assert.Contains("v.mp4", error.Message);
        Assert.Contains("ffmpeg timed out: it made no progress for 1 s; killed it", error.Message);
        await AssertTreeKilledAsync();
    }

    [Fact]
    public async Task An_ffmpeg_that_trickles_output_forever_is_killed_at_the_limit_for_the_videos_length()
    {
        var video = await VideoAsync();
        Stub("ffmpeg", TrickleForever);
        // A byte every 50 ms is progress, but a frame of 768 bytes never completes within the run's limit: 1 s + 0.2 s per
        // second of video it reads (the 2 s segment and 1 s of margin).
        var options = new FrameSamplingOptions { Timeouts = new ToolTimeouts { NoProgress = TimeSpan.FromSeconds(30), DecodeBase = TimeSpan.FromSeconds(1), DecodeSecondsPerVideoSecond = 0.2 } };
        var error = await Assert.ThrowsAsync<MediaException>(() => SampleAllAsync(video, options));
        Assert.Equal(MediaErrorKind.TimedOut, error.Kind);
        Assert.Contains("ffmpeg timed out: it was still decoding after 1.6 s (the limit for this much video); killed it", error.Message);
        await AssertTreeKilledAsync();
    }

    [Fact]
    public void The_decode_limit_grows_with_the_video()
    {
        var limits = new ToolTimeouts();
        Assert.Equal(TimeSpan.FromSeconds(120 + 2 * 3600), limits.DecodeLimit(3600));
        Assert.Equal(limits.DecodeBase, limits.DecodeLimit(0));
    }
}
