using System.Diagnostics;
using System.Globalization;

namespace LvMae.Corpus.Tests;

[CollectionDefinition(Name)]
public sealed class RenderedCorpusCollection : ICollectionFixture<RenderedCorpusFixture>
{
    public const string Name = "rendered corpus";
}

/// <summary>The rendered files agree with the plan: durations, format, keyframes, files written, progress, reuse.</summary>
[Collection(RenderedCorpusCollection.Name)]
public sealed class RenderTests(RenderedCorpusFixture corpus)
{
    [Fact]
    public void The_generated_manifest_is_the_plan_and_the_directory_holds_videos_labels_and_timelines()
    {
        Assert.Equal(SyntheticCorpus.Plan(RenderedCorpusFixture.Spec).ToJson(), corpus.Manifest.ToJson());
        var files = Directory.GetFiles(corpus.Directory).Select(Path.GetFileName).Order().ToArray();
        var expected = corpus.Manifest.Videos.Select(v => v.FileName).Append("labels.csv").Append("timelines.json").Order().ToArray();
        Assert.Equal(expected, files);
        Assert.Equal(corpus.Manifest.ToJson(), CorpusManifest.Load(corpus.Directory).ToJson());
    }

    [Fact]
    public async Task Each_file_lasts_as_long_as_its_timeline_within_a_frame_or_two()
    {
        double frame = 1.0 / RenderedCorpusFixture.Spec.FrameRate;
        foreach (var v in corpus.Manifest.Videos)
        {
            var info = await FfprobeAsync(Path.Combine(corpus.Directory, v.FileName),
                "-count_packets", "-show_entries", "format=duration:stream=width,height,codec_name,r_frame_rate,nb_read_packets");
            double duration = double.Parse(info["duration"], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(duration - v.DurationSeconds) <= 2 * frame + 1e-6,
                $"{v.VideoId}: file {duration} s, timeline {v.DurationSeconds} s");
            Assert.Equal(v.FrameCount, int.Parse(info["nb_read_packets"], CultureInfo.InvariantCulture));
            Assert.Equal("h264", info["codec_name"]);
            Assert.Equal("160", info["width"]);
            Assert.Equal("120", info["height"]);
            Assert.Equal("8/1", info["r_frame_rate"]);
        }
    }

    [Fact]
    public async Task Keyframes_fall_on_segment_starts()
    {
        var v = corpus.Manifest.Videos[0];
        var psi = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0",
                     Path.Combine(corpus.Directory, v.FileName) })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        var keyTimes = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(','))
            .Where(f => f.Length >= 2 && f[1].Contains('K'))
            .Select(f => double.Parse(f[0], CultureInfo.InvariantCulture))
            .ToArray();
        var expected = Enumerable.Range(0, (int)Math.Ceiling(v.DurationSeconds / 5)).Select(i => i * 5.0).ToArray();
        Assert.Equal(expected, keyTimes);
    }

    [Fact]
    public void Progress_is_reported_per_video_up_to_the_total()
    {
        var reports = corpus.Reports;
        int n = corpus.Manifest.Videos.Count;
        Assert.Equal(n + 1, reports.Count);
        Assert.Equal(0, reports[0].Completed);
        Assert.Equal(Enumerable.Range(0, n + 1), reports.Select(r => r.Completed).Order());
        Assert.All(reports, r => Assert.Equal(n, r.Total));
        Assert.Equal(corpus.Manifest.Videos.Select(v => v.VideoId).Order(), reports.Skip(1).Select(r => r.VideoId!).Order());
    }

    [Fact]
    public async Task Generating_the_same_plan_again_reuses_the_files()
    {
        var before = corpus.Manifest.Videos.ToDictionary(v => v.VideoId, v => File.GetLastWriteTimeUtc(Path.Combine(corpus.Directory, v.FileName)));
        var reports = new List<CorpusProgress>();
        var again = await SyntheticCorpus.GenerateAsync(corpus.Directory, RenderedCorpusFixture.Spec, new SyncProgress<CorpusProgress>(r => { lock (reports) reports.Add(r); }));
        Assert.Equal(corpus.Manifest.Fingerprint, again.Fingerprint);
        Assert.Equal(corpus.Manifest.Videos.Count, reports.Max(r => r.Reused));
        foreach (var v in again.Videos)
            Assert.Equal(before[v.VideoId], File.GetLastWriteTimeUtc(Path.Combine(corpus.Directory, v.FileName)));
    }

    [Fact]
    public async Task Cancellation_stops_generation()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lvmae-corpus-cancel-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var cts = new CancellationTokenSource();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                SyntheticCorpus.GenerateAsync(dir, RenderedCorpusFixture.Spec, null, cts.Token));
            Assert.False(File.Exists(Path.Combine(dir, "timelines.json")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    internal static async Task<Dictionary<string, string>> FfprobeAsync(string path, params string[] args)
    {
        var psi = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-v");
        psi.ArgumentList.Add("error");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("-of");
        psi.ArgumentList.Add("default=noprint_wrappers=1");
        psi.ArgumentList.Add(path);
        using var p = Process.Start(psi)!;
        string output = await p.StandardOutput.ReadToEndAsync();
        string error = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"ffprobe {path}: {error}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).Where(kv => kv.Length == 2)
            .GroupBy(kv => kv[0]).ToDictionary(g => g.Key, g => g.First()[1].Trim());
    }
}

/// <summary>Every catalogue step type renders (also the ones the default spec does not use).</summary>
public sealed class CatalogueRenderTests
{
    [Fact]
    public async Task Every_step_type_renders_and_lasts_its_frames()
    {
        var all = StepCatalog.All.Select(s => s.Name).ToArray();
        var spec = CorpusSpec.Quick with
        {
            CoreSteps = all, DistractorSteps = [], ActivityCount = 2, VideoCount = 2,
            MinStepSegments = 1, MaxStepSegments = 1, MaxDistractors = 0, InterruptionProbability = 0, Width = 96, Height = 72,
        };
        var video = SyntheticCorpus.Plan(spec).Videos[0];
        Assert.Equal(all.Order(), video.Steps.Select(s => s.Step).Order());
        string path = Path.Combine(Path.GetTempPath(), $"lvmae-catalogue-{Guid.NewGuid():N}.mp4");
        try
        {
            await SyntheticCorpus.RenderAsync(video, spec, path);
            double seconds = await SyntheticCorpus.ProbeDurationAsync(path);
            Assert.Equal(video.DurationSeconds, seconds, 1);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
