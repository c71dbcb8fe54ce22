using LvMae.Formats;

namespace LvMae.Media.Tests;

[Collection(MediaCollection.Name)]
public sealed class ModelEncoderTests(MediaFixture media)
{
    private static readonly float[,] W = { { 1f, 0f, 0.5f, -1f }, { 0f, 2f, 0.5f, 1f }, { 0f, 0f, 0.5f, 3f } };

    private string Write(string name, byte[] model)
    {
        var path = media.P(name);
        File.WriteAllBytes(path, model);
        return path;
    }

    /// <summary>What the tiny models compute: the mean of pixel/255 per channel (over the frames given) times W.</summary>
    private static float[] Expected(SegmentFrames s, int frames)
    {
        var channel = new double[3];
        var plane = s.Size * s.Size;
        for (var k = 0; k < frames; k++)
        {
            var f = s.Frame(Math.Min(s.Count - 1, k * s.Count / frames));
            for (var p = 0; p < plane; p++)
                for (var c = 0; c < 3; c++) channel[c] += f[3 * p + c] / 255.0 / plane / frames;
        }
        var y = new float[W.GetLength(1)];
        for (var j = 0; j < y.Length; j++)
            for (var c = 0; c < 3; c++) y[j] += (float)(channel[c] * W[c, j]);
        return y;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Frame_model_runs_per_frame_and_mean_pools(bool dynamicBatch)
    {
        var path = Write($"tiny-frame-{dynamicBatch}.onnx", TinyOnnx.FrameModel(16, W, dynamicBatch));
        using var encoder = SegmentEncoders.Create("model:" + path);
        var model = Assert.IsType<OnnxModelEncoder>(encoder);
        Assert.False(model.TakesClips);
        Assert.Equal(($"model:tiny-frame-{dynamicBatch}.onnx", 4, 16, 8, "cpu"), (encoder.Name, encoder.Dimension, encoder.FrameSize, encoder.DefaultFramesPerSegment, encoder.Device));
        Assert.Equal(dynamicBatch ? 32 : 1, encoder.MaxBatchFrames);
        var segments = new[] { Vectors.Synthetic(16, 5, 1), Vectors.Synthetic(16, 3, 2) };
        var rows = encoder.Encode(segments);
        Assert.Equal(8, rows.Length);
        for (var s = 0; s < 2; s++)
            Assert.Equal(Expected(segments[s], segments[s].Count), rows[(s * 4)..(s * 4 + 4)], (a, b) => Math.Abs(a - b) < 1e-4);
    }

    [Fact]
    public void Onnx_encoders_run_on_the_cpu_and_refuse_cuda()
    {
        var path = Write("tiny-device.onnx", TinyOnnx.FrameModel(16, W, true));
        foreach (var device in new[] { "auto", "CPU", " cpu " })
        {
            using var encoder = SegmentEncoders.Create("model:" + path, new EncoderOptions { Device = device });
            Assert.Equal("cpu", encoder.Device);
        }
        foreach (var device in new[] { "cuda", "cuda:1" })
        {
            var e = Assert.Throws<MediaException>(() => SegmentEncoders.Create("model:" + path, new EncoderOptions { Device = device }));
            Assert.Equal(MediaErrorKind.EncoderFailed, e.Kind);
            Assert.Contains("no CUDA execution provider", e.Message);
        }
        Assert.Contains("bad CUDA device", Assert.Throws<ArgumentException>(() => SegmentEncoders.Create("model:" + path, new EncoderOptions { Device = "cuda:x" })).Message);
        Assert.Contains("unknown device", Assert.Throws<ArgumentException>(() => SegmentEncoders.Create("model:" + path, new EncoderOptions { Device = "gpu" })).Message);
    }

    [Fact]
    public void Clip_model_is_detected_from_the_input_rank()
    {
        var path = Write("tiny-clip.onnx", TinyOnnx.ClipModel(4, 12, W));
        using var encoder = new OnnxModelEncoder(path);
        Assert.True(encoder.TakesClips);
        Assert.Equal((4, 12, 4), (encoder.Dimension, encoder.FrameSize, encoder.DefaultFramesPerSegment));
        var segment = Vectors.Synthetic(12, 4, 3);
        Assert.Equal(Expected(segment, 4), encoder.Encode([segment]), (a, b) => Math.Abs(a - b) < 1e-4);
    }

    [Fact]
    public async Task Model_file_encoder_embeds_a_video()
    {
        var path = Write("tiny-video.onnx", TinyOnnx.FrameModel(24, W));
        using var encoder = SegmentEncoders.Create("model:" + path, new EncoderOptions { FramesPerSegment = 3 });
        var video = await VideoEmbedder.EmbedAsync(media.Path12, encoder, new SegmentationOptions());
        Assert.Equal(3, video.Segments.Count);
        Assert.Equal(12, video.Embeddings.Length);
        Assert.Equal(3, video.FramesPerSegment);
        Assert.Equal("model:tiny-video.onnx", video.EncoderName);
        Assert.All(video.Embeddings, v => Assert.True(float.IsFinite(v)));
        var red = await VideoEmbedder.EmbedAsync(media.RedNoise, encoder, new SegmentationOptions());
        Assert.True(red.Embeddings[0] > 2 * red.Embeddings[1], "red video: W's first column (red) dominates"); // y0 = r, y1 = 2g
    }

    [Fact]
    public void Unsupported_and_broken_model_files_get_clear_errors()
    {
        var pt = media.P("model.pt");
        File.WriteAllBytes(pt, [1, 2, 3]);
        var torch = Assert.Throws<MediaException>(() => SegmentEncoders.Create("model:" + pt));
        Assert.Equal(MediaErrorKind.EncoderFailed, torch.Kind);
        Assert.Contains("ONNX", torch.Message);
        Assert.Contains("TorchScript", torch.Message);

        var missing = Assert.Throws<MediaException>(() => SegmentEncoders.Create("model:" + media.P("nope.onnx")));
        Assert.Equal(MediaErrorKind.FileNotFound, missing.Kind);

        var garbage = media.P("garbage.onnx");
        File.WriteAllText(garbage, "not a protobuf");
        var broken = Assert.Throws<MediaException>(() => SegmentEncoders.Create("model:" + garbage));
        Assert.Equal(MediaErrorKind.EncoderFailed, broken.Kind);
        Assert.Contains("garbage.onnx", broken.Message);
        Assert.Throws<ArgumentException>(() => SegmentEncoders.Create("model:"));
    }
}

public sealed class ImportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lvmae-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Npy(string name, float[] values, params long[] shape)
    {
        var path = Path.Combine(_dir, name);
        NpyArray.FromFloats(values, shape).Write(path);
        return path;
    }

    [Fact]
    public void Embeddings_round_trip_through_npy()
    {
        var values = Enumerable.Range(0, 3 * 5).Select(i => i * 0.25f - 1).ToArray();
        var path = Npy("v1.npy", values, 3, 5);
        var (read, count, dim) = EmbeddingImport.ReadNpy(path);
        Assert.Equal((3, 5), (count, dim));
        Assert.Equal(values, read);
    }

    [Fact]
    public void A_directory_with_a_labels_csv_imports_as_typed_records()
    {
        Npy("walk_01.npy", [1, 2, 3, 4, 5, 6], 2, 3);
        Npy("cook-02.npy", [7, 8, 9], 1, 3);
        Npy("unlabelled.npy", [0, 0, 0], 1, 3);
        var f64 = new byte[6 * 8];
        for (var i = 0; i < 6; i++) BitConverter.TryWriteBytes(f64.AsSpan(i * 8), i + 0.5);
        new NpyArray("<f8", [2, 3], f64).Write(Path.Combine(_dir, "double.npy"));
        var csv = Path.Combine(_dir, "labels.csv");
        File.WriteAllText(csv, "videoId,label,note\r\nwalk_01,walking,\"outdoor, sunny\"\r\ncook-02,cooking,\"says \"\"hi\"\"\"\r\nghost,none,\n");

        var imported = EmbeddingImport.ImportDirectory(_dir, csv);
        Assert.Equal(3, imported.Dimension);
        Assert.Equal(["cook-02", "double", "unlabelled", "walk_01"], imported.Videos.Select(v => v.VideoId));
        Assert.Equal(["label", "note"], imported.LabelColumns);
        Assert.Equal(["ghost"], imported.UnmatchedLabelIds);
        var walk = imported.Videos.Single(v => v.VideoId == "walk_01");
        Assert.Equal((2, 3), (walk.Count, walk.Dimension));
        Assert.Equal([1f, 2, 3, 4, 5, 6], walk.Embeddings);
        Assert.Equal("walking", walk.Labels["label"]);
        Assert.Equal("outdoor, sunny", walk.Labels["note"]);
        Assert.Equal("says \"hi\"", imported.Videos.Single(v => v.VideoId == "cook-02").Labels["note"]);
        Assert.Empty(imported.Videos.Single(v => v.VideoId == "unlabelled").Labels);
        Assert.Equal([0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f], imported.Videos.Single(v => v.VideoId == "double").Embeddings);
    }

    [Fact]
    public void Labels_csv_accepts_id_column_anywhere()
    {
        var csv = Path.Combine(_dir, "l.csv");
        File.WriteAllText(csv, "split,id,class\ntrain,a1,3\ntest,b2,4\n");
        var table = EmbeddingImport.ReadLabels(csv);
        Assert.Equal("id", table.IdColumn);
        Assert.Equal("4", table.Rows["b2"]["class"]);
        Assert.Equal("train", table.Rows["a1"]["split"]);
    }

    public static TheoryData<string, string> BadFiles => new()
    {
        { "one-d", "2-d" },
        { "ints", "float32" },
        { "nan", "non-finite" },
        { "truncated", "truncated" },
        { "empty-rows", "empty" },
        { "not-npy", "magic" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Malformed_npy_files_are_named(string kind, string expected)
    {
        var path = Path.Combine(_dir, kind + ".npy");
        switch (kind)
        {
            case "one-d": NpyArray.FromFloats([1, 2, 3], 3).Write(path); break;
            case "ints": NpyArray.FromLongs([1, 2, 3, 4], 2, 2).Write(path); break;
            case "nan": NpyArray.FromFloats([1, float.NaN], 1, 2).Write(path); break;
            case "truncated":
                NpyArray.FromFloats(new float[40], 4, 10).Write(path);
                var bytes = File.ReadAllBytes(path);
                File.WriteAllBytes(path, bytes[..(bytes.Length - 9)]);
                break;
            case "empty-rows": NpyArray.FromFloats([], 0, 8).Write(path); break;
            case "not-npy": File.WriteAllText(path, "hello, I am a csv"); break;
        }
        var error = Assert.Throws<MediaException>(() => EmbeddingImport.ReadNpy(path));
        Assert.Equal(MediaErrorKind.BadEmbeddings, error.Kind);
        Assert.Contains(kind + ".npy", error.Message);
        Assert.Contains(expected, error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("<f4", false)]
    [InlineData(">f4", true)]
    [InlineData("<f8", true)]
    [InlineData(">f8", false)]
    [InlineData(">f2", true)]
    public void Numpy_files_in_any_float_layout_import_as_the_same_rows(string descr, bool fortran)
    {
        var path = Path.Combine(_dir, "v.npy");
        File.WriteAllBytes(path, LvMae.Testing.NumpyFiles.Save(descr, fortran, [2, 3], [-1, -0.5, 0, 0.5, 1, 1.5]));
        var (values, count, dim) = EmbeddingImport.ReadNpy(path);
        Assert.Equal((2, 3), (count, dim));
        Assert.Equal([-1f, -0.5f, 0, 0.5f, 1, 1.5f], values);
    }

    [Fact]
    public void A_tiny_npy_declaring_two_gigabytes_is_refused_naming_the_file()
    {
        var path = Path.Combine(_dir, "bomb.npy");
        File.WriteAllBytes(path, LvMae.Testing.NumpyFiles.Save("<f4", false, [500000, 1000], []));
        var error = Assert.Throws<MediaException>(() => EmbeddingImport.ReadNpy(path));
        Assert.Equal(MediaErrorKind.BadEmbeddings, error.Kind);
        Assert.Equal(path, error.Input);
        Assert.Contains("declares 2000000000 bytes for shape [500000, 1000]", error.Message);
        Assert.Contains("only 0 bytes follow it", error.Message);
    }

    [Fact]
    public void A_large_import_streams_through_validation_in_constant_memory_and_its_NaN_is_named()
    {
        const int rows = 32 * 1024, dim = 256; // 32 MiB of float32
        var values = new float[rows * dim];
        values[(rows - 1) * dim + 7] = float.NaN;
        var path = Path.Combine(_dir, "large-nan.npy");
        NpyArray.FromFloats(values, rows, dim).Write(path);
        using var stream = File.OpenRead(path);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<MediaException>(() => EmbeddingImport.ValidateNpy(stream, stream.Length, "large-nan.npy"));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(MediaErrorKind.BadEmbeddings, error.Kind);
        Assert.Contains("large-nan.npy", error.Message);
        Assert.Contains($"non-finite value NaN at row {rows - 1}, column 7", error.Message);
        // Reading it whole would allocate its 32 MiB several times over (bytes, converted values): a chunk is what it costs.
        Assert.True(allocated < 4 << 20, $"{allocated} bytes allocated to validate a {stream.Length} byte file");
    }

    [Theory]
    [InlineData("<f4", false)]
    [InlineData(">f4", true)]
    [InlineData(">f8", true)]
    [InlineData("<f2", false)]
    public void Streamed_validation_names_the_same_rows_and_shape_as_reading(string descr, bool fortran)
    {
        var path = Path.Combine(_dir, "v.npy");
        double[] values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        File.WriteAllBytes(path, LvMae.Testing.NumpyFiles.Save(descr, fortran, [3, 4], values));
        using (var stream = File.OpenRead(path)) Assert.Equal((3, 4), EmbeddingImport.ValidateNpy(stream, stream.Length, "v.npy"));

        values[1 * 4 + 2] = double.PositiveInfinity; // row 1, column 2, wherever the layout puts it in the file
        File.WriteAllBytes(path, LvMae.Testing.NumpyFiles.Save(descr, fortran, [3, 4], values));
        var read = Assert.Throws<MediaException>(() => EmbeddingImport.ReadNpy(path));
        using (var stream = File.OpenRead(path))
        {
            var streamed = Assert.Throws<MediaException>(() => EmbeddingImport.ValidateNpy(stream, stream.Length, "v.npy"));
            Assert.Equal(read.Problem, streamed.Problem);
        }
        Assert.Contains("at row 1, column 2", read.Problem);

        // A blob shorter than its header declares is refused before its data is read, as a file is.
        var bytes = File.ReadAllBytes(path);
        var cut = Assert.Throws<MediaException>(() => EmbeddingImport.ValidateNpy(new MemoryStream(bytes[..^4]), bytes.Length - 4, "v.npy"));
        Assert.Contains("truncated .npy file", cut.Problem);
    }

    public static TheoryData<string, string, string> BadLabelCsvs => new()
    {
        { "missing column", "videoId,activity,split\nv1,a,train\nv2,b\n", "line 3: 2 cells, the header has 3" },
        { "extra column", "videoId,label\nv1,a,extra\n", "line 2: 3 cells, the header has 2" },
        { "duplicate id", "videoId,label\nv1,a\nv2,b\nv1,c\n", "line 4: video id 'v1' already appears on line 2" },
        { "10 MB label", "videoId,note\nv1," + new string('n', 10 << 20) + "\n", "line 2: column 'note': a label of 10485760 characters (at most 256)" },
        { "path as id", "videoId,label\n../v1,a\n", "line 2: '../v1' is not a valid video id" },
        { "stray quote", "videoId,label\nv1,a\"b\n", "line 2: a quote inside an unquoted field" },
        { "duplicate column", "videoId,label,label\n", "line 1: column 'label' appears twice" },
        { "no id column", "name,label\na,1\n", "line 1: no id column" },
        { "empty", "", "labels CSV is empty" },
    };

    [Theory]
    [MemberData(nameof(BadLabelCsvs))]
    public void Each_bad_labels_csv_names_the_file_and_line(string name, string text, string expected)
    {
        var csv = Path.Combine(_dir, name.Replace(' ', '-') + ".csv");
        File.WriteAllText(csv, text);
        var error = Assert.Throws<MediaException>(() => EmbeddingImport.ReadLabels(csv));
        Assert.Equal(MediaErrorKind.BadEmbeddings, error.Kind);
        Assert.Equal(csv, error.Input);
        Assert.Contains(expected, error.Message);
        Assert.True(error.Message.Length < 400);
    }

    [Fact]
    public void A_labels_csv_with_a_byte_order_mark_and_unicode_values_reads()
    {
        var csv = Path.Combine(_dir, "bom.csv");
        File.WriteAllText(csv, "videoId,label\r\nv1,ünïcode\r\n", new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        var table = EmbeddingImport.ReadLabels(csv);
        Assert.Equal("videoId", table.IdColumn);
        Assert.Equal("ünïcode", table.Rows["v1"]["label"]);
    }

    [Fact]
    public void Inconsistent_directories_are_rejected()
    {
        Npy("a.npy", [1, 2, 3], 1, 3);
        Npy("b.npy", [1, 2], 1, 2);
        var mismatch = Assert.Throws<MediaException>(() => EmbeddingImport.ImportDirectory(_dir));
        Assert.Contains("dimension 2", mismatch.Message);
        File.Delete(Path.Combine(_dir, "b.npy"));
        Npy(".hidden.npy", [1, 2, 3], 1, 3);
        var badId = Assert.Throws<MediaException>(() => EmbeddingImport.ImportDirectory(_dir));
        Assert.Contains("not a valid video id", badId.Message);
        File.Delete(Path.Combine(_dir, ".hidden.npy"));
        var csv = Path.Combine(_dir, "x.csv");
        File.WriteAllText(csv, "name,label\na,1\n");
        var noId = Assert.Throws<MediaException>(() => EmbeddingImport.ImportDirectory(_dir, csv));
        Assert.Contains("no id column", noId.Message);
        var empty = Directory.CreateTempSubdirectory("lvmae-empty-").FullName;
        Assert.Equal(MediaErrorKind.BadEmbeddings, Assert.Throws<MediaException>(() => EmbeddingImport.ImportDirectory(empty)).Kind);
        Directory.Delete(empty);
        Assert.Equal(MediaErrorKind.FileNotFound, Assert.Throws<MediaException>(() => EmbeddingImport.ReadNpy(Path.Combine(_dir, "zzz.npy"))).Kind);
    }
}
