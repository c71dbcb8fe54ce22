namespace LvMae.Media.Tests;

/// <summary>
/// Writes small ONNX models by hand with the product's <see cref="ProtoWriter"/> (the ONNX protobuf schema is a handful of messages), so the model-file encoder is
/// tested with a model the project makes itself: no download, no Python.
/// </summary>
internal static class TinyOnnx
{
    /// <summary>Frame model: x [N,3,S,S] -> GlobalAveragePool -> Flatten -> MatMul W [3,D] -> y [N,D]. Batch dimension dynamic ("N").</summary>
    public static byte[] FrameModel(int size, float[,] weights, bool dynamicBatch = true)
    {
        var d = weights.GetLength(1);
        var graph = new ProtoWriter()
            .Message(1, Node("GlobalAveragePool", ["x"], ["pooled"]))
            .Message(1, Node("Flatten", ["pooled"], ["flat"], new ProtoWriter().String(1, "axis").Int(3, 1).Int(20, 2)))
            .Message(1, Node("MatMul", ["flat", "W"], ["y"]))
            .String(2, "tiny-frame")
            .Message(5, Tensor("W", [3, d], Flatten(weights)))
            .Message(11, ValueInfo("x", [dynamicBatch ? null : 1, 3, size, size]))
            .Message(12, ValueInfo("y", [dynamicBatch ? null : 1, d]));
        return Model(graph);
    }

    /// <summary>Clip model: x [N,3,T,S,S] -> ReduceMean over (T,H,W) -> [N,3] -> MatMul W [3,D] -> y [N,D].</summary>
    public static byte[] ClipModel(int frames, int size, float[,] weights)
    {
        var d = weights.GetLength(1);
        var axes = new ProtoWriter().String(1, "axes").PackedInts(8, [2, 3, 4]).Int(20, 7);
        var keep = new ProtoWriter().String(1, "keepdims").Int(3, 0).Int(20, 2);
        var graph = new ProtoWriter()
            .Message(1, Node("ReduceMean", ["x"], ["m"], axes, keep))
            .Message(1, Node("MatMul", ["m", "W"], ["y"]))
            .String(2, "tiny-clip")
            .Message(5, Tensor("W", [3, d], Flatten(weights)))
            .Message(11, ValueInfo("x", [null, 3, frames, size, size]))
            .Message(12, ValueInfo("y", [null, d]));
        return Model(graph);
    }

    private static byte[] Model(ProtoWriter graph) => new ProtoWriter()
        .Int(1, 7)                                   // ir_version
        .String(2, "lvmae-tests")                    // producer_name
        .Message(7, graph)                           // graph
        .Message(8, new ProtoWriter().String(1, "").Int(2, 13)) // opset_import: default domain, opset 13
        .ToArray();

    private static ProtoWriter Node(string op, string[] inputs, string[] outputs, params ProtoWriter[] attributes)
    {
        var node = new ProtoWriter();
        foreach (var i in inputs) node.String(1, i);
        foreach (var o in outputs) node.String(2, o);
        node.String(3, op + "_" + outputs[0]).String(4, op);
        foreach (var a in attributes) node.Message(5, a);
        return node;
    }

    private static ProtoWriter Tensor(string name, long[] dims, float[] values)
    {
        var t = new ProtoWriter();
        foreach (var dim in dims) t.Int(1, dim);
        t.Int(2, 1); // FLOAT
        t.String(8, name);
        var raw = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
        return t.Bytes(9, raw); // raw_data, little-endian
    }

    private static ProtoWriter ValueInfo(string name, int?[] dims)
    {
        var shape = new ProtoWriter();
        foreach (var dim in dims)
            shape.Message(1, dim is { } v ? new ProtoWriter().Int(1, v) : new ProtoWriter().String(2, "N"));
        var tensorType = new ProtoWriter().Int(1, 1).Message(2, shape);
        return new ProtoWriter().String(1, name).Message(2, new ProtoWriter().Message(1, tensorType));
    }

    private static float[] Flatten(float[,] m)
    {
        var result = new float[m.Length];
        Buffer.BlockCopy(m, 0, result, 0, result.Length * 4);
        return result;
    }
}
