using Microsoft.ML;
using Microsoft.ML.Data;
using System.Diagnostics;
using System.Security.Cryptography;
using Xunit.Abstractions;

namespace LvMae.Media.Tests;

internal static class Vectors
{
    public static float[] Row(EmbeddedVideo v, int i) => v.Embeddings.AsSpan(i * v.Dimension, v.Dimension).ToArray();

    public static float[] Mean(EmbeddedVideo v)
    {
        var m = new float[v.Dimension];
        for (var i = 0; i < v.Segments.Count; i++)
            for (var j = 0; j < v.Dimension; j++) m[j] += v.Embeddings[i * v.Dimension + j] / v.Segments.Count;
        return m;
    }

    public static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return dot / Math.Sqrt(na * nb + 1e-30);
    }

    /// <summary>Deterministic synthetic frames: the same bytes everywhere, no ffmpeg involved.</summary>
    public static SegmentFrames Synthetic(int size, int frames, int seed)
    {
        var rgb = new byte[frames * size * size * 3];
        for (var f = 0; f < frames; f++)
            for (var y = 0; y < size; y++)
                for (var x = 0; x < size; x++)
                {
                    var o = ((f * size + y) * size + x) * 3;
                    rgb[o] = (byte)((x * 7 + f * 13 + seed * 31) & 255);
                    rgb[o + 1] = (byte)((y * 5 + x * y + seed * 17) & 255);
                    rgb[o + 2] = (byte)(((x ^ y) * 9 + f * 3 + seed) & 255);
                }
        return new SegmentFrames(new SegmentSpan(0, 0, 5), size, frames, rgb, new double[frames]);
    }
}

[Collection(MediaCollection.Name)]
public sealed class BuiltinEncoderTests(MediaFixture media, ITestOutputHelper output)
{
    [Fact]
    public void Same_frames_give_the_same_embedding_on_every_machine()
    {
        using var encoder = new BuiltinEncoder();
        var frames = Vectors.Synthetic(32, 8, 1);
        var a = encoder.Encode([frames]);
        var b = encoder.Encode([frames, Vectors.Synthetic(32, 8, 2)]);
        Assert.Equal(128, a.Length);
        Assert.Equal(a, b[..128]);
        var bytes = new byte[a.Length * 4];
        Buffer.BlockCopy(a, 0, bytes, 0, bytes.Length);
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        output.WriteLine(digest);
        // Golden value: pure integer inputs and correctly rounded double arithmetic give bit-identical floats everywhere.
        Assert.Equal(GoldenDigest, digest);
    }

    internal const string GoldenDigest = "47c542874778d2d0956c461d9710c0d2c881c4795d99f73fdb5382b32b0c21fa";

    [Fact]
    public async Task Embedding_a_video_twice_is_identical()
    {
        using var encoder = new BuiltinEncoder();
        var progress = new List<double>();
        var one = await VideoEmbedder.EmbedAsync(media.Path12, encoder, new SegmentationOptions(), new SyncProgress(progress.Add));
        var two = await VideoEmbedder.EmbedAsync(media.Path12, encoder, new SegmentationOptions(), null); // a null progress is not ambiguous
        var exact = await VideoEmbedder.EmbedAsync(media.Path12, encoder, new SegmentationOptions(), FrameSamplingOptions.Exact, null, CancellationToken.None);
        Assert.Equal(one.Embeddings.Length, exact.Embeddings.Length);
        Assert.Equal(3, one.Segments.Count);
        Assert.Equal(3 * 128, one.Embeddings.Length);
        Assert.Equal(one.Embeddings, two.Embeddings);
        Assert.Equal(("builtin", "builtin-1", 128, 8, 32), (one.EncoderName, one.EncoderVersion, one.Dimension, one.FramesPerSegment, one.FrameSize));
        Assert.Equal(0, progress[0]);
        Assert.Equal(1, progress[^1]);
        Assert.All(one.Embeddings, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public async Task Different_content_gives_distant_embeddings()
    {
        using var encoder = new BuiltinEncoder();
        var videos = new Dictionary<string, EmbeddedVideo>();
        foreach (var (name, path) in new[] { ("testsrc2", media.Path12), ("bars", media.Bars), ("mandelbrot", media.Mandel), ("red-noise", media.RedNoise), ("life", media.Life) })
            videos[name] = await VideoEmbedder.EmbedAsync(path, encoder, new SegmentationOptions { FramesPerSegment = 4 });
        AssertDistinct(videos, output, maxCrossCosine: 0.8);
    }

    internal static void AssertDistinct(Dictionary<string, EmbeddedVideo> videos, ITestOutputHelper output, double maxCrossCosine)
    {
        var names = videos.Keys.ToList();
        foreach (var a in names)
        {
            var within = Vectors.Cosine(Vectors.Row(videos[a], 0), Vectors.Row(videos[a], videos[a].Segments.Count - 1));
            foreach (var b in names.Where(b => string.CompareOrdinal(a, b) < 0))
            {
                var across = Vectors.Cosine(Vectors.Mean(videos[a]), Vectors.Mean(videos[b]));
                output.WriteLine($"{a} vs {b}: cosine {across:F3} (within {a}: {within:F3})");
                Assert.True(across < maxCrossCosine, $"{a} vs {b}: cosine {across:F3}");
                Assert.True(across < within, $"{a} vs {b}: {across:F3} not below within-video {within:F3}");
            }
        }
    }

    [Fact]
    public void Encoders_are_created_by_spec()
    {
        using (var b = SegmentEncoders.Create("builtin")) Assert.Equal(("builtin", 128, 32, 8), (b.Name, b.Dimension, b.FrameSize, b.DefaultFramesPerSegment));
        using (var b = SegmentEncoders.Create("builtin", new EncoderOptions { FramesPerSegment = 3 })) Assert.Equal(3, b.DefaultFramesPerSegment);
        Assert.Throws<ArgumentException>(() => SegmentEncoders.Create("vit-huge"));
        Assert.Contains("unknown encoder 'resnet50'", Assert.Throws<ArgumentException>(() => SegmentEncoders.Create("resnet50")).Message);
    }

    [Fact]
    public async Task Encoders_can_be_called_from_several_threads()
    {
        using var encoder = new BuiltinEncoder();
        var frames = Enumerable.Range(0, 8).Select(i => Vectors.Synthetic(32, 4, i)).ToArray();
        var serial = frames.Select(f => encoder.Encode([f])).ToArray();
        var parallel = new float[8][];
        await Parallel.ForAsync(0, 8, (i, _) => { parallel[i] = encoder.Encode([frames[i]]); return ValueTask.CompletedTask; });
        for (var i = 0; i < 8; i++) Assert.Equal(serial[i], parallel[i]);
    }

    [Fact]
    public async Task Segments_document_round_trips_through_json()
    {
        using var encoder = new BuiltinEncoder();
        var video = await VideoEmbedder.EmbedAsync(media.Path12, encoder, new SegmentationOptions { FramesPerSegment = 2 });
        var doc = video.ToDocument("d12_3", "abc123");
        var json = doc.ToJson();
        Assert.Contains("\"encoderName\": \"builtin\"", json);
        var back = SegmentsDocument.FromJson(json);
        Assert.Equal(doc.Segments, back.Segments);
        Assert.Equal(doc.Info, back.Info);
        Assert.Equal((2, 32, 128, "d12_3", "abc123"), (back.FramesPerSegment, back.FrameSize, back.Dimension, back.VideoId, back.ContentSha256));
        Assert.Equal(5.0, back.SegmentSeconds);
    }

    [Fact]
    public async Task Cancelling_an_embedding_stops_it()
    {
        using var encoder = new BuiltinEncoder();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(1));
        await Task.Delay(5);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => VideoEmbedder.EmbedAsync(media.Path61, encoder, new SegmentationOptions(), cancellationToken: cts.Token));
    }

    private sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}

[Collection(MediaCollection.Name)]
public sealed class ResNet18Tests(MediaFixture media, ITestOutputHelper output)
{
    [Fact]
    public void Models_come_from_the_nuget_package_and_run_in_batches()
    {
        using var encoder = new ResNet18Encoder();
        Assert.Equal(("resnet18", 512, 224, ResNet18Encoder.DefaultBatchFrames), (encoder.Name, encoder.Dimension, encoder.FrameSize, encoder.MaxBatchFrames));
        Assert.Equal("cpu", encoder.Device);
        Assert.True(File.Exists(Path.Combine(encoder.ModelDirectory, "ResNet18Onnx", "ResNet18.onnx")));
        using var one = new ResNet18Encoder(new EncoderOptions { BatchFrames = 1 });
        Assert.Equal(1, one.MaxBatchFrames);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ResNet18Encoder(new EncoderOptions { BatchFrames = 0 }));
    }

    [Fact]
    public async Task Batched_features_equal_batch_1_and_the_packaged_models_run_as_shipped()
    {
        // Real frames: 3 per segment, so batches of 8 frames cut through segments.
        var segments = new List<SegmentFrames>();
        foreach (var path in new[] { media.Path12, media.Bars, media.Mandel })
        {
            var plan = Segmentation.Plan((await VideoInspector.InspectAsync(path)).DurationSeconds, new SegmentationOptions());
            await foreach (var s in FrameSampler.SampleAsync(path, plan, 3, 224)) segments.Add(s);
        }
        Assert.True(segments.Count >= 5);

        using var batched = new ResNet18Encoder(new EncoderOptions { BatchFrames = 8 });
        using var single = new ResNet18Encoder(new EncoderOptions { BatchFrames = 1 });
        using var packaged = new PackagedResNet18();
        var inBatches = batched.Encode(segments);
        var oneByOne = single.Encode(segments);
        var shipped = packaged.Encode(segments);

        static double MaxDiff(float[] a, float[] b) => a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
        output.WriteLine($"{segments.Count} segments, {segments.Sum(s => s.Count)} frames: max |batch 8 - batch 1| = {MaxDiff(inBatches, oneByOne):E2}, max |batch 8 - packaged pair| = {MaxDiff(inBatches, shipped):E2}, max |value| = {inBatches.Max(Math.Abs):F2}");
        Assert.Equal(segments.Count * 512, inBatches.Length);
        Assert.True(MaxDiff(inBatches, oneByOne) <= 1e-5);
        Assert.True(MaxDiff(inBatches, shipped) <= 1e-5);
        Assert.True(inBatches.Max(Math.Abs) > 0.5, "features are not all near zero");
    }

    [Fact]
    public async Task A_probed_and_planned_video_embeds_as_if_probed_again()
    {
        using var encoder = new ResNet18Encoder();
        var options = new SegmentationOptions();
        var info = await VideoInspector.InspectAsync(media.Path12);
        var plan = Segmentation.Plan(info.DurationSeconds, options);
        var probedAgain = await VideoEmbedder.EmbedAsync(media.Path12, encoder, options);
        var planned = await VideoEmbedder.EmbedAsync(media.Path12, info, plan, encoder, options, null, null, CancellationToken.None);
        Assert.Equal(probedAgain.Embeddings, planned.Embeddings);
        Assert.Equal(probedAgain.Segments, planned.Segments);
        Assert.Same(info, planned.Info);
        Assert.Same(plan, planned.Segments);

        var none = await Assert.ThrowsAsync<MediaException>(() => VideoEmbedder.EmbedAsync(media.Path12, info, [], encoder, options, null, null, CancellationToken.None));
        Assert.Equal(MediaErrorKind.TooFewFrames, none.Kind);
    }

    [Fact]
    public async Task Features_equal_MLNET_DnnFeaturizeImage()
    {
        // ML.NET: load the PNG, extract planar RGB pixels, run its ResNet18 featurizer (same ONNX files).
        var ml = new Microsoft.ML.MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable([new ImageRow { Path = media.Image224 }]);
        var pipeline = ml.Transforms.LoadImages("Image", imageFolder: "", inputColumnName: nameof(ImageRow.Path))
            .Append(ml.Transforms.ResizeImages("Image", 224, 224))
            .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
            .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"));
        var transformed = pipeline.Fit(data).Transform(data);
        var expected = transformed.GetColumn<float[]>("Features").Single();
        Assert.Equal(512, expected.Length);

        // Ours: the same PNG decoded by ffmpeg to RGB24 (lossless, 224x224 so no resize), through the encoder's frame path.
        var rgb = new byte[224 * 224 * 3];
        await foreach (var s in FrameSampler.SampleAsync(media.Image224, [new SegmentSpan(0, 0, 0.04)], 1, 224))
            rgb = s.Rgb;
        using var encoder = new ResNet18Encoder();
        var ours = encoder.Encode([new SegmentFrames(new SegmentSpan(0, 0, 5), 224, 1, rgb, [0])]);
        var maxDiff = expected.Zip(ours, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"max |ML.NET - ours| = {maxDiff:E2}; |features| = {Math.Sqrt(expected.Sum(v => v * v)):F2}");
        Assert.True(maxDiff < 1e-4, $"max difference {maxDiff}");
        Assert.True(expected.Any(v => v > 0.1), "features are not all zero");
    }

    private sealed class ImageRow
    {
        public string Path { get; set; } = "";
    }

    [Fact]
    public async Task Different_content_gives_distant_embeddings_and_measures_cost()
    {
        using var encoder = new ResNet18Encoder();
        var videos = new Dictionary<string, EmbeddedVideo>();
        var watch = Stopwatch.StartNew();
        var frames = 0;
        foreach (var (name, path) in new[] { ("testsrc2", media.Path12), ("bars", media.Bars), ("mandelbrot", media.Mandel), ("red-noise", media.RedNoise) })
        {
            var v = await VideoEmbedder.EmbedAsync(path, encoder, new SegmentationOptions());
            frames += v.Segments.Count * v.FramesPerSegment;
            videos[name] = v;
            Assert.Equal(ResNet18Encoder.DefaultFrames, v.FramesPerSegment);
        }
        output.WriteLine($"resnet18: {frames} frames in {watch.Elapsed.TotalSeconds:F2} s = {watch.Elapsed.TotalMilliseconds / frames:F0} ms/frame (decode + inference, {Environment.ProcessorCount} cores)");
        BuiltinEncoderTests.AssertDistinct(videos, output, maxCrossCosine: 0.9);
    }
}
