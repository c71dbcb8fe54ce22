using System.Text;

namespace LvMae.Media.Tests;

public sealed class SegmentationTests
{
    private static readonly SegmentationOptions Default = new();

    [Theory]
    [InlineData(4.0, 1, 4.0)]
    [InlineData(5.0, 1, 5.0)]
    [InlineData(12.3, 3, 12.3)]
    [InlineData(61.0, 13, 61.0)]
    [InlineData(60.9, 12, 60.0)]   // 0.9 s remainder < 1 s minimum: dropped
    [InlineData(0.99, 0, 0.0)]     // shorter than the minimum: nothing
    [InlineData(10.0, 2, 10.0)]
    public void Plans_consecutive_segments(double duration, int count, double coveredUntil)
    {
        var plan = Segmentation.Plan(duration, Default);
        Assert.Equal(count, plan.Count);
        for (var i = 0; i < plan.Count; i++)
        {
            Assert.Equal(i, plan[i].Index);
            Assert.Equal(i * 5.0, plan[i].StartSeconds, 9);
            if (i > 0) Assert.Equal(plan[i - 1].EndSeconds, plan[i].StartSeconds, 12);
            Assert.True(plan[i].DurationSeconds <= 5.0 + 1e-9);
        }
        if (count > 0) Assert.Equal(coveredUntil, plan[^1].EndSeconds, 9);
    }

    [Fact]
    public void Boundaries_for_12_3_seconds()
    {
        var plan = Segmentation.Plan(12.3, Default);
        Assert.Equal([(0, 0.0, 5.0), (1, 5.0, 10.0), (2, 10.0, 12.3)],
            plan.Select(s => (s.Index, Math.Round(s.StartSeconds, 6), Math.Round(s.EndSeconds, 6))).ToArray());
        Assert.Equal(2.3, plan[2].DurationSeconds, 9);
    }

    [Fact]
    public void Length_and_minimum_are_configurable()
    {
        var plan = Segmentation.Plan(12.3, new SegmentationOptions { SegmentSeconds = 2, MinLastSegmentSeconds = 0.5 });
        Assert.Equal(6, plan.Count); // 6 x 2 s; the 0.3 s remainder is under the 0.5 s minimum
        Assert.Equal(12.0, plan[^1].EndSeconds, 9);
        plan = Segmentation.Plan(12.3, new SegmentationOptions { SegmentSeconds = 2, MinLastSegmentSeconds = 0.3 });
        Assert.Equal(7, plan.Count);
        Assert.Equal(12.3, plan[^1].EndSeconds, 9);
    }

    [Fact]
    public void Short_remainder_is_dropped_and_long_one_kept()
    {
        Assert.Equal(6, Segmentation.Plan(12.3, new SegmentationOptions { SegmentSeconds = 2, MinLastSegmentSeconds = 0.5 }).Count(s => s.DurationSeconds > 1.9));
        Assert.Equal(2, Segmentation.Plan(12.3, new SegmentationOptions { MinLastSegmentSeconds = 2.5 }).Count);
        Assert.Equal(3, Segmentation.Plan(12.3, new SegmentationOptions { MinLastSegmentSeconds = 2.3 }).Count);
        Assert.Equal(3, Segmentation.Plan(10.2, new SegmentationOptions { MinLastSegmentSeconds = 0 }).Count);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-3.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Degenerate_durations_give_no_segments(double duration) => Assert.Empty(Segmentation.Plan(duration, Default));

    [Fact]
    public void Bad_options_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Segmentation.Plan(10, new SegmentationOptions { SegmentSeconds = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Segmentation.Plan(10, new SegmentationOptions { MinLastSegmentSeconds = 6 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Segmentation.Plan(10, new SegmentationOptions { FramesPerSegment = 0 }));
    }

    [Fact]
    public void Sample_times_are_uniform_centres()
    {
        var times = Segmentation.SampleTimes(new SegmentSpan(1, 5, 10), 4);
        Assert.Equal([5.625, 6.875, 8.125, 9.375], times);
    }
}

public sealed class VideoIdTests
{
    [Theory]
    [InlineData("/data/walk.mp4", "walk")]
    [InlineData("clip-01_v2.mkv", "clip-01_v2")]
    [InlineData("a.b.c.webm", "a.b.c")]
    public void Clean_names_stay_as_they_are(string path, string id) => Assert.Equal(id, VideoIds.FromFileName(path));

    [Theory]
    [InlineData("My clip (1).mp4")]
    [InlineData("../../etc/passwd")]
    [InlineData("..\\..\\windows\\evil.mp4")]
    [InlineData(".hidden.mp4")]
    [InlineData("vidéo.mp4")]
    [InlineData("...")]
    [InlineData("")]
    [InlineData("日本語.mp4")]
    public void Unsafe_names_become_valid_ids(string path)
    {
        var id = VideoIds.FromFileName(path);
        Assert.True(VideoIds.IsValid(id), id);
        Assert.DoesNotContain("/", id);
        Assert.NotEqual('.', id[0]);
    }

    [Fact]
    public void Traversal_keeps_only_the_file_name()
    {
        Assert.StartsWith("passwd", VideoIds.FromFileName("../../etc/passwd"));
        Assert.StartsWith("evil", VideoIds.FromFileName("..\\..\\windows\\evil.mp4"));
    }

    [Fact]
    public void Names_that_sanitise_alike_do_not_collide()
    {
        var a = VideoIds.FromFileName("a b.mp4");
        var b = VideoIds.FromFileName("a?b.mp4");
        var c = VideoIds.FromFileName("a_b.mp4");
        Assert.Equal(3, new[] { a, b, c }.Distinct().Count());
        Assert.Equal("a_b", c);
    }

    [Fact]
    public void Long_names_are_cut_to_128_with_a_hash()
    {
        var one = VideoIds.FromFileName(new string('x', 300) + "1.mp4");
        var two = VideoIds.FromFileName(new string('x', 300) + "2.mp4");
        Assert.Equal(128, one.Length);
        Assert.NotEqual(one, two);
        Assert.True(VideoIds.IsValid(one));
    }

    [Fact]
    public async Task Content_hash_is_streamed_sha256()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(path, "abc", new UTF8Encoding(false));
            Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", await VideoIds.ContentHashAsync(path));
            var copy = path + ".copy";
            File.Copy(path, copy);
            Assert.Equal(await VideoIds.ContentHashAsync(path), await VideoIds.ContentHashAsync(copy));
            File.Delete(copy);
        }
        finally { File.Delete(path); }
        var missing = await Assert.ThrowsAsync<MediaException>(() => VideoIds.ContentHashAsync(path));
        Assert.Equal(MediaErrorKind.FileNotFound, missing.Kind);
    }
}
