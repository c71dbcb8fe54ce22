using LvMae.Testing;

namespace LvMae.Media.Tests;

/// <summary>
/// Videos that lie or are broken in ways the probe alone cannot see: a container that declares 30 years, files cut
/// mid-stream, pipes, and inputs that are media of the wrong kind. Each fails with its own named error, or is embedded
/// and marked with what is missing.
/// </summary>
[Collection(MediaCollection.Name)]
public sealed class BadVideoTests(MediaFixture media)
{
    private async Task<string> LyingDurationAsync(double seconds)
    {
        var path = media.P($"lying-{Guid.NewGuid():N}.mkv");
        await BadMedia.LyingDurationAsync(path, seconds);
        return path;
    }

    /// <summary>A 60 s Matroska video cut to <paramref name="fraction"/> of its bytes: the header still declares 60 s.</summary>
    private async Task<string> CutAsync(double fraction)
    {
        var full = media.P("full60.mkv");
        if (!File.Exists(full)) await TestVideos.GenerateAsync(full, 60, "testsrc2", size: 32, fps: 5, options: new TestVideoOptions { KeyframeInterval = 10 });
        var cut = media.P($"cut-{fraction:0.00}-{Guid.NewGuid():N}.mkv");
        await BadMedia.CutAsync(full, cut, fraction);
        return cut;
    }

    [Fact]
    public void A_plan_for_a_billion_seconds_costs_no_memory_per_segment()
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var plan = Segmentation.Plan(1e9, new SegmentationOptions());
        Assert.Equal(200_000_000, plan.Count);
        Assert.Equal(new SegmentSpan(199_999_999, 999_999_995, 1e9), plan[^1]);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 16, "the plan is computed on demand");
        Assert.Equal(Enumerable.Range(0, 3).Select(i => new SegmentSpan(i, 5 * i, Math.Min(5 * i + 5, 12.3))), Segmentation.Plan(12.3, new SegmentationOptions()));
    }

    [Fact]
    public async Task A_container_that_declares_thirty_years_is_refused_before_anything_is_allocated_for_it()
    {
        var path = await LyingDurationAsync(1e9);
        var info = await VideoInspector.InspectAsync(path);
        Assert.Equal(1e9, info.DurationSeconds, 0);
        using var encoder = new BuiltinEncoder();
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(path, encoder, new SegmentationOptions()));
        Assert.Equal(MediaErrorKind.TooLong, error.Kind);
        Assert.True(error.IsPermanent);
        Assert.Contains(Path.GetFileName(path), error.Message);
        Assert.Contains("declares a duration of 1000000000 s", error.Message);
        Assert.Contains("24 h maximum", error.Message);
        // The maximum is configurable. Raised above a 28 h lie, the file is decoded as far as it goes: 6 s of 100000 is too little.
        var lie = await LyingDurationAsync(1e5);
        var truncated = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(lie, encoder, new SegmentationOptions { MaxDurationSeconds = 1e6 }));
        Assert.Equal(MediaErrorKind.Truncated, truncated.Kind);
        Assert.Contains("of its 100000.0 s could be decoded", truncated.Message);
    }

    [Fact]
    public async Task A_video_cut_mid_stream_is_embedded_up_to_the_cut_and_marked_with_what_is_missing()
    {
        var cut = await CutAsync(0.62);
        using var encoder = new BuiltinEncoder();
        var video = await VideoEmbedder.EmbedAsync(cut, encoder, new SegmentationOptions());
        var truncation = Assert.IsType<Truncation>(video.Truncation);
        Assert.Equal(60, truncation.DeclaredSeconds, 1);
        Assert.InRange(truncation.DecodableSeconds, 30, 45);
        Assert.InRange(video.Segments.Count, 6, 10); // the segments up to the cut, not the 12 the header promises
        Assert.True(video.Segments[^1].StartSeconds < truncation.DecodableSeconds);
        Assert.Equal(video.Segments.Count * video.Dimension, video.Embeddings.Length);
        Assert.StartsWith("truncated: ", truncation.Warning);
        Assert.EndsWith("of 60.0 s decodable", truncation.Warning);
        var json = video.ToDocument("v1").ToJson();
        Assert.Contains($"\"warning\": \"{truncation.Warning}\"", json);
        Assert.Equal(truncation, SegmentsDocument.FromJson(json).Truncation);

        // An intact video carries no mark.
        Assert.Null((await VideoEmbedder.EmbedAsync(media.Path61, encoder, new SegmentationOptions())).Truncation);
    }

    [Fact]
    public async Task A_video_that_decodes_for_too_little_of_its_declared_duration_fails_as_truncated()
    {
        using var encoder = new BuiltinEncoder();
        var cut = await CutAsync(0.3);
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(cut, encoder, new SegmentationOptions()));
        Assert.Equal(MediaErrorKind.Truncated, error.Kind);
        Assert.Contains(Path.GetFileName(cut), error.Message);
        Assert.Contains("of its 60.0 s could be decoded, less than the 50% required", error.Message);
        // What counts as too little is configurable.
        var longer = await CutAsync(0.62);
        var strict = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(longer, encoder, new SegmentationOptions { MinDecodableFraction = 0.9 }));
        Assert.Contains("less than the 90% required", strict.Message);
    }

    public static TheoryData<string, MediaErrorKind, string> MoreBadInputs => new()
    {
        { "png-as.mp4", MediaErrorKind.ZeroDuration, "duration" },
        { "subtitles.mp4", MediaErrorKind.NoVideoStream, "no video stream" },
        { "wav-as.mp4", MediaErrorKind.NoVideoStream, "only audio" },
        { "zeros.mp4", MediaErrorKind.NotMedia, "not a media file" },
        { "header-only.mkv", MediaErrorKind.Truncated, "truncated or corrupt" },
        { "fifo.mp4", MediaErrorKind.EmptyFile, "not a regular file (a pipe or device)" },
    };

    [Theory]
    [MemberData(nameof(MoreBadInputs))]
    public async Task Each_further_bad_input_gets_its_own_named_error(string name, MediaErrorKind kind, string expected)
    {
        var path = media.P(name);
        if (!File.Exists(path))
        {
            switch (name)
            {
                case "png-as.mp4": File.Copy(media.Image224, path); break;
                case "subtitles.mp4": await File.WriteAllTextAsync(path, "1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:03,000 --> 00:00:04,000\nworld\n"); break;
                case "wav-as.mp4": await TestVideos.RunFfmpegAsync(["-f", "lavfi", "-i", "sine=duration=2", "-f", "wav", path]); break;
                case "zeros.mp4": await File.WriteAllBytesAsync(path, new byte[100_000]); break;
                case "header-only.mkv":
                    var full = media.P("for-header.mkv");
                    await TestVideos.GenerateAsync(full, 4, "testsrc2", size: 32, fps: 5);
                    await BadMedia.HeadAsync(full, path, 300);
                    break;
                case "fifo.mp4": await BadMedia.FifoAsync(path); break;
            }
        }
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoInspector.InspectAsync(path));
        Assert.Equal(kind, error.Kind);
        Assert.Equal(path, error.Input);
        Assert.Contains(expected, error.Problem);
        using var encoder = new BuiltinEncoder();
        Assert.Equal(kind, (await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(path, encoder, new SegmentationOptions()))).Kind);
    }
}
