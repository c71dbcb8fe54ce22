using Xunit.Abstractions;

namespace LvMae.Media.Tests;

[Collection(MediaCollection.Name)]
public sealed class SamplingTests(MediaFixture media, ITestOutputHelper output)
{
    private static async Task<List<SegmentFrames>> Sample(string path, int frames, int size, FrameSamplingOptions? options = null)
    {
        var info = await VideoInspector.InspectAsync(path);
        var plan = Segmentation.Plan(info.DurationSeconds, new SegmentationOptions());
        var result = new List<SegmentFrames>();
        await foreach (var s in FrameSampler.SampleAsync(path, plan, frames, size, options)) result.Add(s);
        return result;
    }

    [Theory]
    [InlineData(4, 16)]
    [InlineData(8, 32)]
    [InlineData(1, 24)]
    public async Task Every_segment_gets_T_frames_of_the_requested_size(int frames, int size)
    {
        var segments = await Sample(media.Path12, frames, size);
        Assert.Equal(3, segments.Count);
        foreach (var s in segments)
        {
            Assert.Equal(frames, s.Count);
            Assert.Equal(size, s.Size);
            Assert.Equal(frames * size * size * 3, s.Rgb.Length);
            Assert.Equal(frames, s.FrameTimes.Length);
            var targets = Segmentation.SampleTimes(s.Segment, frames);
            for (var k = 0; k < frames; k++)
            {
                // a frame within one frame interval (0.1 s) of its sampling instant, inside the segment
                Assert.InRange(s.FrameTimes[k], targets[k] - 0.1 - 1e-6, targets[k] + 0.1 + 1e-6);
                Assert.InRange(s.FrameTimes[k], s.Segment.StartSeconds - 1e-6, s.Segment.EndSeconds);
                if (k > 0) Assert.True(s.FrameTimes[k] >= s.FrameTimes[k - 1]);
            }
        }
        Assert.Equal([0, 1, 2], segments.Select(s => s.Segment.Index));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Decoding_on_a_thread_budget_gives_the_same_frames(int threads)
    {
        foreach (var path in new[] { media.Path12, media.Life })
        {
            var free = await Sample(path, 3, 24);
            var budgeted = await Sample(path, 3, 24, new FrameSamplingOptions { DecoderThreads = threads });
            Assert.Equal(free.Select(s => s.Rgb), budgeted.Select(s => s.Rgb));
            Assert.Equal(free.Select(s => s.FrameTimes), budgeted.Select(s => s.FrameTimes));
        }
    }

    [Fact]
    public async Task Sampled_frames_are_real_pictures_that_change_over_time()
    {
        var segments = await Sample(media.Path12, 4, 32);
        var first = segments[0].Frame(0).ToArray();
        var later = segments[2].Frame(3).ToArray();
        Assert.True(first.Distinct().Count() > 10, "a testsrc2 frame has many colours");
        Assert.NotEqual(first, later);
        // red video: the red channel dominates
        var red = (await Sample(media.RedNoise, 2, 16))[0].Frame(0);
        double r = 0, g = 0;
        for (var p = 0; p < 16 * 16; p++) { r += red[3 * p]; g += red[3 * p + 1]; }
        Assert.True(r > 3 * g, $"red {r} green {g}");
    }

    [Fact]
    public async Task Seek_per_segment_samples_the_same_frames_as_one_pass()
    {
        var one = await Sample(media.Path12, 4, 16);
        var seek = await Sample(media.Path12, 4, 16, new FrameSamplingOptions { Mode = FrameSamplingMode.SeekPerSegment });
        var exact = await Sample(media.Path12, 4, 16, FrameSamplingOptions.Exact);
        Assert.Equal(one.SelectMany(s => s.FrameTimes), exact.SelectMany(s => s.FrameTimes)); // no B-frames in these files: same instants
        Assert.Equal(one.Count, seek.Count);
        for (var i = 0; i < one.Count; i++)
        {
            Assert.Equal(one[i].FrameTimes, seek[i].FrameTimes, (a, b) => Math.Abs(a - b) < 1e-3);
            Assert.Equal(one[i].Rgb, seek[i].Rgb);
        }
    }

    [Fact]
    public async Task Exact_decode_and_other_scalers_give_every_frame_too()
    {
        var fast = await Sample(media.Path61, 8, 16, new FrameSamplingOptions { SkipNonReferenceFrames = false, SkipLoopFilter = false, ScaleFlags = "bilinear" });
        Assert.Equal(13, fast.Count);
        Assert.All(fast, s => Assert.Equal(8, s.Count));
        Assert.Equal(1.0, fast[^1].Segment.DurationSeconds, 6);
    }

    [Fact]
    public async Task Skipping_non_reference_frames_moves_samples_by_at_most_a_few_frames()
    {
        var path = media.P("bframes.mp4"); // x264 veryfast: B-frames, so noref skipping has something to skip
        await LvMae.Testing.TestVideos.GenerateAsync(path, 10, fps: 25, options: new LvMae.Testing.TestVideoOptions { Preset = "veryfast" });
        var fast = await Sample(path, 8, 16);
        var exact = await Sample(path, 8, 16, FrameSamplingOptions.Exact);
        Assert.Equal(exact.Count, fast.Count);
        var shifts = fast.SelectMany(s => s.FrameTimes).Zip(exact.SelectMany(s => s.FrameTimes), (a, b) => Math.Abs(a - b)).ToList();
        output.WriteLine($"max shift {shifts.Max():F3} s, {shifts.Count(x => x > 0)} of {shifts.Count} samples moved");
        Assert.All(shifts, d => Assert.True(d <= 3 / 25.0 + 1e-6, $"shift {d}"));
    }

    [Fact]
    public async Task More_samples_than_source_frames_repeat_the_nearest_frame()
    {
        // 61 s at 5 fps: a 1 s last segment has 5 frames; ask for 8
        var segments = await Sample(media.Path61, 8, 8);
        var last = segments[^1];
        Assert.Equal(8, last.Count);
        Assert.InRange(last.FrameTimes.Distinct().Count(), 4, 5);
        output.WriteLine(string.Join(", ", last.FrameTimes));
    }

    [Fact]
    public async Task Non_square_and_vp9_inputs_are_squashed_to_the_square()
    {
        var wide = await Sample(media.Wide, 2, 20);
        Assert.Equal(2, wide.Count); // 6 s: one full segment and a 1 s remainder
        Assert.All(wide, s => Assert.Equal(2 * 20 * 20 * 3, s.Rgb.Length));
        var vp9 = await Sample(media.Life, 3, 16);
        Assert.Equal(2, vp9.Count);
    }

    [Theory]
    [InlineData("ts.ts")]   // MPEG-TS starts at 1.4 s: times must still be from the start of the video
    [InlineData("mkv.mkv")]
    public async Task Containers_with_start_offsets_sample_from_time_zero(string name)
    {
        var path = media.P(name);
        await LvMae.Testing.TestVideos.GenerateAsync(path, 7);
        var info = await VideoInspector.InspectAsync(path);
        Assert.Equal(7, info.DurationSeconds, 0);
        var segments = await Sample(path, 4, 16);
        Assert.Equal(2, segments.Count);
        foreach (var s in segments)
            for (var k = 0; k < 4; k++)
                Assert.InRange(s.FrameTimes[k], Segmentation.SampleTimes(s.Segment, 4)[k] - 1e-6, Segmentation.SampleTimes(s.Segment, 4)[k] + 0.1 + 1e-6);
    }

    [Fact]
    public async Task Odd_file_names_are_local_files()
    {
        var odd = media.P("concat:odd name -y #1.mp4");
        File.Copy(media.Path5, odd, overwrite: true);
        var segments = await Sample(odd, 2, 8);
        Assert.Single(segments);
        Assert.Equal(2, segments[0].Count);
    }

    [Fact]
    public async Task Cancellation_stops_sampling()
    {
        using var cts = new CancellationTokenSource();
        var info = await VideoInspector.InspectAsync(media.Path61);
        var plan = Segmentation.Plan(info.DurationSeconds, new SegmentationOptions());
        var seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in FrameSampler.SampleAsync(media.Path61, plan, 4, 16, cancellationToken: cts.Token))
            {
                if (++seen == 2) await cts.CancelAsync();
            }
        });
        Assert.Equal(2, seen);
    }
}
