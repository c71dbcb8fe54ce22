using LvMae.Testing;

namespace LvMae.Media.Tests;

/// <summary>Generates the test media once per test run (small, short, in parallel) and deletes it afterwards.</summary>
public sealed class MediaFixture : IAsyncLifetime
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "lvmae-media-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public string Path4 => P("d4.mp4");
    public string Path5 => P("d5.mp4");
    public string Path12 => P("d12_3.mp4");
    public string Path61 => P("d61.mp4");
    public string Bars => P("bars.mp4");
    public string Mandel => P("mandel.mp4");
    public string RedNoise => P("red-noise.mp4");
    public string Life => P("life.webm");
    public string Wide => P("wide.mp4");

    public string Empty => P("empty.mp4");
    public string RandomBytes => P("random.mp4");
    public string TruncatedMp4 => P("truncated.mp4");
    public string AudioOnly => P("audio-only.m4a");
    public string TextAsMp4 => P("text.mp4");
    public string OneFrame => P("one-frame.mp4");
    public string HugeY4m => P("huge.y4m");
    public string WideY4m => P("wide.y4m");
    public string Image224 => P("frame224.png");

    public string P(string name) => Path.Combine(Dir, name);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Dir);
        var jobs = new List<Func<Task>>
        {
            () => TestVideos.GenerateAsync(Path4, 4, "testsrc2"),
            () => TestVideos.GenerateAsync(Path5, 5, "testsrc2"),
            () => TestVideos.GenerateAsync(Path12, 12.3, "testsrc2"),
            () => TestVideos.GenerateAsync(Path61, 61, "testsrc2", size: 32, fps: 5),
            () => TestVideos.GenerateAsync(Bars, 6, "smptebars"),
            () => TestVideos.GenerateAsync(Mandel, 6, "mandelbrot"),
            () => TestVideos.GenerateAsync(RedNoise, 6, "color=c=red", options: new TestVideoOptions { Noise = 30 }),
            () => TestVideos.GenerateAsync(Life, 6, "life", options: new TestVideoOptions { Codec = "libvpx-vp9", ExtraArguments = ["-deadline", "realtime", "-cpu-used", "8"] }),
            () => TestVideos.GenerateAsync(Wide, 6, "testsrc2", size: 96, options: new TestVideoOptions { Height = 48, Audio = true }),
            () => TestVideos.GenerateAsync(OneFrame, 0.1, "testsrc2"),
            () => TestVideos.GenerateAudioOnlyAsync(AudioOnly, 2),
            () => TestVideos.GenerateImageAsync(Image224, "mandelbrot", 224),
        };
        await Parallel.ForEachAsync(jobs, new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (job, _) => await job());

        await File.WriteAllBytesAsync(Empty, []);
        await BadMedia.RandomBytesAsync(RandomBytes, 50_000, seed: 7);
        var full = await File.ReadAllBytesAsync(Path12); // ffmpeg writes the index (moov) last: half a file has none
        await File.WriteAllBytesAsync(TruncatedMp4, full[..(full.Length / 2)]);
        await File.WriteAllTextAsync(TextAsMp4, "This is not a video, just a text file with a .mp4 name.\n");
        await BadMedia.Y4mHeaderAsync(HugeY4m, 40000, 40000);
        await BadMedia.Y4mHeaderAsync(WideY4m, 20000, 16);
    }

    public Task DisposeAsync()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class MediaCollection : ICollectionFixture<MediaFixture>
{
    public const string Name = "media";
}
