namespace LvMae.Media.Tests;

/// <summary>Runs alone (after the parallel tests): it empties PATH for a moment so ffmpeg/ffprobe cannot be found.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial (changes PATH)";
}

[Collection(SerialCollection.Name)]
public sealed class ToolMissingTests
{
    [Fact]
    public async Task Missing_ffmpeg_is_an_environment_error_not_the_files()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-nopath-").FullName;
        var video = Path.Combine(dir, "v.mp4");
        await LvMae.Testing.TestVideos.GenerateAsync(video, 2);
        var path = Environment.GetEnvironmentVariable("PATH");
        try
        {
            Environment.SetEnvironmentVariable("PATH", dir); // a folder without ffmpeg in it
            var probe = await Assert.ThrowsAsync<MediaException>(() => VideoInspector.InspectAsync(video));
            Assert.Equal(MediaErrorKind.ToolMissing, probe.Kind);
            Assert.False(probe.IsPermanent);
            Assert.Contains("ffprobe", probe.Message);

            var plan = new[] { new SegmentSpan(0, 0, 2) };
            var sample = await Assert.ThrowsAsync<MediaException>(async () =>
            {
                await foreach (var _ in FrameSampler.SampleAsync(video, plan, 2, 16)) { }
            });
            Assert.Equal(MediaErrorKind.ToolMissing, sample.Kind);
            Assert.Contains("ffmpeg", sample.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_probed_video_is_embedded_without_running_ffprobe_again()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-noprobe-").FullName;
        var video = Path.Combine(dir, "v.mp4");
        await LvMae.Testing.TestVideos.GenerateAsync(video, 6);
        var options = new SegmentationOptions { FramesPerSegment = 2 };
        var info = await VideoInspector.InspectAsync(video);
        var plan = Segmentation.Plan(info.DurationSeconds, options);
        var ffmpeg = Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, "ffmpeg")).First(File.Exists);
        var tools = Directory.CreateDirectory(Path.Combine(dir, "bin")).FullName;
        File.CreateSymbolicLink(Path.Combine(tools, "ffmpeg"), ffmpeg); // ffmpeg only: no ffprobe
        var path = Environment.GetEnvironmentVariable("PATH");
        try
        {
            Environment.SetEnvironmentVariable("PATH", tools);
            using var encoder = new BuiltinEncoder();
            var embedded = await VideoEmbedder.EmbedAsync(video, info, plan, encoder, options, null, null, CancellationToken.None);
            Assert.Equal(2, embedded.Segments.Count);

            var probing = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(video, encoder, options));
            Assert.Equal(MediaErrorKind.ToolMissing, probing.Kind);
            Assert.Contains("ffprobe", probing.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
            Directory.Delete(dir, recursive: true);
        }
    }
}
