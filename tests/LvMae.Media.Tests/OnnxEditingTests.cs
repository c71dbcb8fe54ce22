using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace LvMae.Media.Tests;

public sealed class ProtoWireTests
{
    [Fact]
    public void Fields_written_are_read_back()
    {
        var nested = new ProtoWriter().String(1, "inner");
        var big = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        var bytes = new ProtoWriter()
            .Int(1, 0).Int(2, 127).Int(3, 128).Int(4, -1).Int(5, long.MaxValue)
            .String(6, "héllo").Bytes(7, big).PackedInts(8, [1, 300, -2]).Message(9, nested)
            .Int(10, 5).Int(10, 6).Int(536_870_911, 42) // the largest field number protobuf allows
            .ToArray();

        var fields = ProtoReader.Fields(bytes);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 536_870_911], fields.Select(f => f.Number));
        Assert.Equal([0L, 127, 128, -1, long.MaxValue], fields.Take(5).Select(f => f.Int64));
        Assert.All(fields.Take(5), f => Assert.Equal(WireType.Varint, f.Type));
        Assert.Equal("héllo", fields[5].Text);
        Assert.Equal(big, fields[6].Payload.ToArray());
        Assert.Equal([1L, 300, -2], ProtoReader.Int64s(fields, 8));
        Assert.Equal([5L, 6], ProtoReader.Int64s(fields, 10)); // one field per value
        Assert.Equal("inner", ProtoReader.Fields(fields[8].Payload).Single().Text);
        Assert.Equal(42, fields[^1].Int64);
        // Encoded spans tile the message exactly: a verbatim copy of every field is the message.
        Assert.Equal(bytes, fields.SelectMany(f => f.Encoded.ToArray()));
    }

    [Theory]
    [InlineData(new byte[] { 0x0a, 0x05, 0x61 }, "claims 5 bytes")]      // field 1, length 5, one byte left
    [InlineData(new byte[] { 0x0b }, "wire type 3")]                     // a group start
    [InlineData(new byte[] { 0x08, 0x80 }, "past the end")]              // varint cut off
    [InlineData(new byte[] { 0x00, 0x01 }, "field number 0")]
    [InlineData(new byte[] { 0x0d, 0x01, 0x02 }, "fixed-size field")]    // fixed32 with two bytes
    public void Malformed_messages_are_refused_with_the_reason(byte[] bytes, string reason)
    {
        var e = Assert.Throws<InvalidDataException>(() => ProtoReader.Fields(bytes));
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("ResNet18Onnx/ResNet18.onnx")]
    [InlineData("ResNetPrepOnnx/ResNetPreprocess.onnx")]
    public void Rewriting_no_field_reproduces_the_packaged_models_byte_for_byte(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(ResNet18Encoder.FindModelDirectory()!, file));
        var copy = ProtoEdit.Rewrite(bytes, _ => false, _ => throw new InvalidOperationException("nothing is selected")).ToArray();
        Assert.True(bytes.AsSpan().SequenceEqual(copy));
    }
}

[Collection(MediaCollection.Name)]
public sealed class OnnxEditingTests(MediaFixture media, ITestOutputHelper output)
{
    private static readonly float[,] W = { { 1f, 0f, 0.5f, -1f }, { 0f, 2f, 0.5f, 1f }, { 0f, 0f, 0.5f, 3f } };

    private static string ModelFile(string name) => Path.Combine(ResNet18Encoder.FindModelDirectory()!, name);

    [Fact]
    public void A_batch_1_model_made_dynamic_runs_any_batch_with_the_same_results()
    {
        var fixedModel = TinyOnnx.FrameModel(8, W, dynamicBatch: false);
        var dynamicModel = OnnxModels.WithDynamicBatch(fixedModel);
        Assert.Equal([1L, 3, 8, 8], OnnxModels.ReadGraph(fixedModel).Inputs.Single().Shape);
        var graph = OnnxModels.ReadGraph(dynamicModel);
        Assert.Equal([null, 3L, 8, 8], graph.Inputs.Single().Shape);
        Assert.Equal([null, 4L], graph.Outputs.Single().Shape);

        using var one = new InferenceSession(fixedModel);
        using var any = new InferenceSession(dynamicModel);
        Assert.Equal([-1, 3, 8, 8], any.InputMetadata.Values.Single().Dimensions);
        var frames = Enumerable.Range(0, 5).Select(i => Vectors.Synthetic(8, 1, i)).ToList();
        var batch = Run(any, frames);
        Assert.Equal(5 * 4, batch.Length);
        for (var i = 0; i < frames.Count; i++)
            Assert.Equal(Run(one, [frames[i]]), batch[(i * 4)..(i * 4 + 4)]);
        Assert.Throws<OnnxRuntimeException>(() => Run(one, frames)); // the original really is fixed at 1
    }

    private static float[] Run(InferenceSession session, IReadOnlyList<SegmentFrames> frames)
    {
        const int side = 8, plane = side * side;
        var x = new float[frames.Count * 3 * plane];
        for (var b = 0; b < frames.Count; b++)
            for (var p = 0; p < plane; p++)
                for (var c = 0; c < 3; c++) x[(b * 3 + c) * plane + p] = frames[b].Frame(0)[3 * p + c] / 255f;
        using var input = OrtValue.CreateTensorValueFromMemory(x, [frames.Count, 3, side, side]);
        using var run = new RunOptions();
        using var y = session.Run(run, [session.InputNames[0]], [input], [session.OutputNames[0]]);
        return y[0].GetTensorDataAsSpan<float>().ToArray();
    }

    [Fact]
    public void The_packaged_ResNet18_gets_a_dynamic_batch_and_keeps_its_graph()
    {
        var original = File.ReadAllBytes(ModelFile("ResNet18Onnx/ResNet18.onnx"));
        var rewritten = OnnxModels.WithDynamicBatch(original);
        var before = OnnxModels.ReadGraph(original);
        var after = OnnxModels.ReadGraph(rewritten);
        Assert.Equal([1L, 3, 224, 224], before.Inputs.Single().Shape);
        Assert.Equal([null, 3L, 224, 224], after.Inputs.Single().Shape);
        Assert.Equal([null, 512L, 1, 1], after.Outputs.Single().Shape);
        Assert.Equal(before.Nodes.Select(Describe), after.Nodes.Select(Describe));
        Assert.Equal(before.Initializers.Keys.Order(), after.Initializers.Keys.Order());
        Assert.All(before.Initializers, kv => Assert.True(kv.Value.Span.SequenceEqual(after.Initializers[kv.Key].Span), kv.Key));

        using var session = new InferenceSession(rewritten);
        Assert.Equal([-1, 3, 224, 224], session.InputMetadata.Values.Single().Dimensions);
        Assert.Equal([-1, 512, 1, 1], session.OutputMetadata.Values.Single().Dimensions);
    }

    private static string Describe(OnnxNode n) => $"{n.OpType}({string.Join(",", n.Inputs)})->{string.Join(",", n.Outputs)}";

    [Fact]
    public async Task Folded_preprocessing_equals_ResNetPreprocess_onnx_bit_for_bit()
    {
        var prep = ResNetPreprocessing.FromModel(File.ReadAllBytes(ModelFile("ResNetPrepOnnx/ResNetPreprocess.onnx")));
        Assert.Equal(224, prep.Size);
        using var packaged = new PackagedResNet18();
        var checkedFrames = 0;
        foreach (var path in new[] { media.Path12, media.Mandel, media.RedNoise })
        {
            var segments = Segmentation.Plan((await VideoInspector.InspectAsync(path)).DurationSeconds, new SegmentationOptions());
            await foreach (var s in FrameSampler.SampleAsync(path, segments, 2, 224))
                for (var f = 0; f < s.Count; f++, checkedFrames++)
                {
                    var ours = new float[prep.FloatsPerFrame];
                    prep.Write(s.Frame(f), ours);
                    Assert.Equal(packaged.Preprocess(s.Frame(f)), ours);
                }
        }
        output.WriteLine($"{checkedFrames} frames identical");
        Assert.True(checkedFrames >= 10);
    }

    [Fact]
    public void A_preprocessing_model_of_another_shape_is_refused()
    {
        var e = Assert.Throws<InvalidDataException>(() => ResNetPreprocessing.FromModel(TinyOnnx.FrameModel(8, W)));
        Assert.Contains("cannot be folded", e.Message);
    }
}
