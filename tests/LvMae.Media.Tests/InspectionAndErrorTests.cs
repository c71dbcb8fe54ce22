namespace LvMae.Media.Tests;

[Collection(MediaCollection.Name)]
public sealed class InspectionAndErrorTests(MediaFixture media)
{
    [Theory]
    [InlineData("d4.mp4", 4.0, 1)]
    [InlineData("d5.mp4", 5.0, 1)]
    [InlineData("d12_3.mp4", 12.3, 3)]
    [InlineData("d61.mp4", 61.0, 13)]
    public async Task Probes_generated_videos_and_plans_their_segments(string name, double seconds, int segments)
    {
        var info = await VideoInspector.InspectAsync(media.P(name));
        Assert.Equal(seconds, info.DurationSeconds, 1);
        Assert.Equal("h264", info.Codec);
        Assert.True(info.SizeBytes > 0);
        Assert.False(info.HasAudio);
        Assert.Equal(name == "d61.mp4" ? 5.0 : 10.0, info.FrameRate, 3);
        Assert.Equal(name == "d61.mp4" ? 32 : 64, info.Width);
        Assert.Equal(info.Width, info.Height);
        Assert.Equal(segments, Segmentation.Plan(info.DurationSeconds, new SegmentationOptions()).Count);
    }

    [Fact]
    public async Task Probes_other_containers_codecs_and_shapes()
    {
        var webm = await VideoInspector.InspectAsync(media.Life);
        Assert.Equal("vp9", webm.Codec);
        Assert.Equal(6.0, webm.DurationSeconds, 1);
        var wide = await VideoInspector.InspectAsync(media.Wide);
        Assert.Equal((96, 48), (wide.Width, wide.Height));
        Assert.True(wide.HasAudio);
    }

    public static TheoryData<string, MediaErrorKind> BadInputs => new()
    {
        { "empty.mp4", MediaErrorKind.EmptyFile },
        { "random.mp4", MediaErrorKind.NotMedia },
        { "truncated.mp4", MediaErrorKind.Truncated },
        { "audio-only.m4a", MediaErrorKind.NoVideoStream },
        { "text.mp4", MediaErrorKind.NotMedia },
        { "one-frame.mp4", MediaErrorKind.TooFewFrames },
        { "huge.y4m", MediaErrorKind.AbsurdDimensions },
        { "wide.y4m", MediaErrorKind.AbsurdDimensions },
        { "does-not-exist.mp4", MediaErrorKind.FileNotFound },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Each_bad_input_gets_its_own_named_error(string name, MediaErrorKind kind)
    {
        var path = media.P(name);
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoInspector.InspectAsync(path));
        Assert.Equal(kind, error.Kind);
        Assert.Equal(path, error.Input);
        Assert.Contains(name, error.Message);
        Assert.True(error.IsPermanent);
        Assert.False(string.IsNullOrWhiteSpace(error.Problem));
    }

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Embedding_a_bad_input_fails_the_same_way(string name, MediaErrorKind kind)
    {
        using var encoder = new BuiltinEncoder();
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(media.P(name), encoder, new SegmentationOptions()));
        Assert.Equal(kind, error.Kind);
        Assert.Contains(name, error.Message);
    }

    [Fact]
    public void An_absurd_picture_size_is_named_without_the_errno_ffmpeg_prints_after_it()
    {
        var error = InspectionImpl.FromProbeError("huge.y4m", 1,
            ["[IMGUTILS @ 0x7fffb5062760] Picture size 40000x40000 is invalid", "huge.y4m: Device or resource busy"], null);
        Assert.Equal(MediaErrorKind.AbsurdDimensions, error.Kind);
        Assert.Equal("absurd picture size 40000x40000: ffmpeg refuses frames that large", error.Problem);
    }

    [Fact]
    public async Task A_video_shorter_than_the_minimum_segment_is_too_short()
    {
        var path = media.P("short-0_6.mp4");
        await LvMae.Testing.TestVideos.GenerateAsync(path, 0.6);
        using var encoder = new BuiltinEncoder();
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(path, encoder, new SegmentationOptions()));
        Assert.Equal(MediaErrorKind.TooFewFrames, error.Kind);
        Assert.Contains("minimum segment", error.Message);
        // a smaller minimum accepts it
        var ok = await VideoEmbedder.EmbedAsync(path, encoder, new SegmentationOptions { MinLastSegmentSeconds = 0.5 });
        Assert.Single(ok.Segments);
    }

    [Fact]
    public async Task A_directory_is_not_media()
    {
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoInspector.InspectAsync(media.Dir));
        Assert.Equal(MediaErrorKind.NotMedia, error.Kind);
    }

    [Fact]
    public async Task Truncated_file_with_its_index_up_front_fails_while_decoding()
    {
        // +faststart puts the index first: the probe believes the full duration, decoding runs out early.
        var full = media.P("faststart.mp4");
        await LvMae.Testing.TestVideos.GenerateAsync(full, 30, options: new LvMae.Testing.TestVideoOptions { ExtraArguments = ["-movflags", "+faststart"], KeyframeInterval = 10 });
        var cut = media.P("faststart-cut.mp4");
        var bytes = await File.ReadAllBytesAsync(full);
        await File.WriteAllBytesAsync(cut, bytes[..(bytes.Length / 3)]);
        var info = await VideoInspector.InspectAsync(cut);
        Assert.Equal(30, info.DurationSeconds, 0);
        using var encoder = new BuiltinEncoder();
        var error = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(cut, encoder, new SegmentationOptions()));
        Assert.Equal(MediaErrorKind.Truncated, error.Kind);
        Assert.Contains("faststart-cut.mp4", error.Message);
    }
}
