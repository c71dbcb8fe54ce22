using System.Numerics;

namespace LvMae.Media;

/// <summary>
/// The packaged ResNetPreprocess.onnx, read from the model file and applied in C#: it splits the planar RGB input
/// [1,3,S,S] into channels, concatenates them in another order (RGB to BGR) and subtracts a mean image [1,3,S,S].
/// Doing the same float subtraction here gives the network the same input bit for bit, without a second ONNX session
/// run per frame, and for a whole batch of frames at once. A model of any other shape is refused with a clear error.
/// </summary>
internal sealed class ResNetPreprocessing
{
    private readonly int[] _sourceChannel; // output channel k takes input channel _sourceChannel[k]
    private readonly float[] _mean;        // [3, Size, Size] in output channel order

    private ResNetPreprocessing(int size, int[] sourceChannel, float[] mean)
    {
        Size = size;
        _sourceChannel = sourceChannel;
        _mean = mean;
    }

    public int Size { get; }
    public int FloatsPerFrame => 3 * Size * Size;

    /// <summary>Reads the preprocessing graph; throws <see cref="InvalidDataException"/> when it is not Split, Concat, Sub as described above.</summary>
    public static ResNetPreprocessing FromModel(ReadOnlyMemory<byte> model)
    {
        var graph = OnnxModels.ReadGraph(model);
        if (graph.Nodes.Count != 3 || graph.Inputs.Count != 1 || graph.Outputs.Count != 1)
            throw Unexpected($"{graph.Nodes.Count} nodes, {graph.Inputs.Count} inputs, {graph.Outputs.Count} outputs");
        var (split, concat, sub) = (graph.Nodes[0], graph.Nodes[1], graph.Nodes[2]);
        if ((split.OpType, concat.OpType, sub.OpType) != ("Split", "Concat", "Sub"))
            throw Unexpected($"operators {split.OpType}, {concat.OpType}, {sub.OpType}");
        if (split.Inputs.Count != 1 || split.Inputs[0] != graph.Inputs[0].Name || split.Outputs.Count != 3 || !AxisIsChannels(split) || !AxisIsChannels(concat))
            throw Unexpected("Split/Concat do not act on the channels of the input");
        if (split.IntAttributes.TryGetValue("split", out var parts) && parts.Any(p => p != 1))
            throw Unexpected($"Split into [{string.Join(",", parts)}] channels");
        var order = concat.Inputs.Select(name => split.Outputs.ToList().IndexOf(name)).ToArray();
        if (order.Length != 3 || order.Order().ToArray() is not [0, 1, 2])
            throw Unexpected("Concat does not reorder the three split channels");
        if (sub.Inputs.Count != 2 || sub.Inputs[0] != concat.Outputs.Single() || sub.Outputs.Single() != graph.Outputs[0].Name
            || !graph.Initializers.TryGetValue(sub.Inputs[1], out var meanTensor))
            throw Unexpected("Sub does not subtract a constant from the reordered channels");
        var (dims, mean) = OnnxModels.ReadFloats(meanTensor);
        if (dims is not [1, 3, var h, var w] || h != w)
            throw Unexpected($"mean image of shape [{string.Join(",", dims)}]");
        return new ResNetPreprocessing((int)h, order, mean);
    }

    private static bool AxisIsChannels(OnnxNode node) => node.IntAttributes.TryGetValue("axis", out var axis) && axis is [1];

    private static InvalidDataException Unexpected(string what) =>
        new($"ResNetPreprocess.onnx is not the expected channel reorder + mean subtraction ({what}); it cannot be folded into the batch");

    /// <summary>
    /// Writes one interleaved RGB24 frame (Size x Size) as the preprocessed planar tensor [3, Size, Size]:
    /// destination[k, p] = rgb[p, source(k)] - mean[k, p].
    /// </summary>
    public void Write(ReadOnlySpan<byte> rgb, Span<float> destination)
    {
        var plane = Size * Size;
        if (rgb.Length != 3 * plane) throw new ArgumentException($"expected a {Size}x{Size} RGB24 frame ({3 * plane} bytes), got {rgb.Length}", nameof(rgb));
        if (destination.Length < 3 * plane) throw new ArgumentException("destination is smaller than one frame", nameof(destination));
        for (var k = 0; k < 3; k++)
        {
            var channel = destination.Slice(k * plane, plane);
            var source = _sourceChannel[k];
            for (var p = 0; p < plane; p++) channel[p] = rgb[3 * p + source];
            Subtract(channel, _mean.AsSpan(k * plane, plane));
        }
    }

    /// <summary>values -= mean, SIMD-wide (IEEE subtraction per element, the same result as ONNX Runtime's Sub).</summary>
    private static void Subtract(Span<float> values, ReadOnlySpan<float> mean)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var width = Vector<float>.Count;
            for (; i <= values.Length - width; i += width)
                (new Vector<float>(values[i..]) - new Vector<float>(mean[i..])).CopyTo(values[i..]);
        }
        for (; i < values.Length; i++) values[i] -= mean[i];
    }
}
