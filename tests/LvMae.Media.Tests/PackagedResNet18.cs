using Microsoft.ML.OnnxRuntime;

namespace LvMae.Media.Tests;

/// <summary>
/// The package's two ONNX files run as shipped: ResNetPreprocess.onnx then ResNet18.onnx, batch 1, one frame per call,
/// fed planar RGB 0-255 as ML.NET feeds them. This is what the resnet18 encoder computed before it batched frames,
/// and the reference the batched encoder is held to.
/// </summary>
internal sealed class PackagedResNet18 : IDisposable
{
    private const int Side = ResNet18Encoder.InputSize;
    private readonly InferenceSession _prep, _net;

    public PackagedResNet18()
    {
        var dir = ResNet18Encoder.FindModelDirectory() ?? throw new InvalidOperationException("ResNet-18 ONNX files not found");
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _prep = new InferenceSession(Path.Combine(dir, "ResNetPrepOnnx", "ResNetPreprocess.onnx"), options);
        _net = new InferenceSession(Path.Combine(dir, "ResNet18Onnx", "ResNet18.onnx"), options);
    }

    /// <summary>ResNetPreprocess.onnx's output [3, 224, 224] for one RGB24 frame.</summary>
    public float[] Preprocess(ReadOnlySpan<byte> rgb)
    {
        using var input = Planar(rgb);
        using var run = new RunOptions();
        using var prepared = _prep.Run(run, [_prep.InputNames[0]], [input], [_prep.OutputNames[0]]);
        return prepared[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>The 512 features of one RGB24 frame through both models.</summary>
    public float[] Features(ReadOnlySpan<byte> rgb)
    {
        using var input = Planar(rgb);
        using var run = new RunOptions();
        using var prepared = _prep.Run(run, [_prep.InputNames[0]], [input], [_prep.OutputNames[0]]);
        using var pooled = _net.Run(run, [_net.InputNames[0]], [prepared[0]], [_net.OutputNames[0]]);
        return pooled[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>Each segment's mean feature, frames summed in order then divided (row-major [segments, 512]).</summary>
    public float[] Encode(IReadOnlyList<SegmentFrames> segments)
    {
        var rows = new float[segments.Count * ResNet18Encoder.FeatureDim];
        for (var s = 0; s < segments.Count; s++)
        {
            var row = rows.AsSpan(s * ResNet18Encoder.FeatureDim, ResNet18Encoder.FeatureDim);
            for (var f = 0; f < segments[s].Count; f++)
            {
                var feature = Features(segments[s].Frame(f));
                for (var i = 0; i < row.Length; i++) row[i] += feature[i];
            }
            for (var i = 0; i < row.Length; i++) row[i] /= segments[s].Count;
        }
        return rows;
    }

    private static OrtValue Planar(ReadOnlySpan<byte> rgb)
    {
        const int plane = Side * Side;
        var planar = new float[3 * plane];
        for (var p = 0; p < plane; p++)
            for (var c = 0; c < 3; c++) planar[c * plane + p] = rgb[3 * p + c];
        return OrtValue.CreateTensorValueFromMemory(planar, [1, 3, Side, Side]);
    }

    public void Dispose()
    {
        _prep.Dispose();
        _net.Dispose();
    }
}
