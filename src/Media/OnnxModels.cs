using System.Buffers.Binary;

namespace LvMae.Media;

/// <summary>One node of an ONNX graph: operator, input and output names, integer attributes (i and ints).</summary>
internal sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyDictionary<string, IReadOnlyList<long>> IntAttributes);

/// <summary>A graph input or output: its name and shape (null for a symbolic or unknown dimension).</summary>
internal sealed record OnnxValue(string Name, IReadOnlyList<long?> Shape);

/// <summary>
/// Reads and edits ONNX models (onnx.proto's ModelProto) through <see cref="ProtoReader"/>/<see cref="ProtoWriter"/>:
/// only the messages and fields named below are understood; everything else passes through untouched.
/// </summary>
internal static class OnnxModels
{
    // Field numbers from onnx/onnx.proto.
    private const int ModelGraph = 7;
    private const int GraphNode = 1, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12, GraphValueInfo = 13;
    private const int NodeInput = 1, NodeOutput = 2, NodeOpType = 4, NodeAttribute = 5;
    private const int AttributeName = 1, AttributeInt = 3, AttributeInts = 8;
    private const int ValueInfoName = 1, ValueInfoType = 2;
    private const int TypeTensor = 1, TensorTypeShape = 2, ShapeDim = 1, DimValue = 1, DimParam = 2;
    private const int TensorDims = 1, TensorDataType = 2, TensorFloatData = 4, TensorName = 8, TensorRawData = 9;
    private const int Float32 = 1;

    /// <summary>
    /// The model with the first dimension of every graph input, output and intermediate shape (value_info) that is
    /// fixed at 1 replaced by the symbolic <paramref name="dimension"/>: a model exported at batch 1 then runs any batch,
    /// provided no operator bakes the batch of 1 into a constant (a Reshape to [1, ...]); the caller checks by running it.
    /// </summary>
    public static byte[] WithDynamicBatch(ReadOnlyMemory<byte> model, string dimension = "N")
    {
        var symbolic = new ProtoPieces();
        symbolic.Add(new ProtoWriter().String(DimParam, dimension).ToArray());
        ProtoPieces FirstDimSymbolic(ReadOnlyMemory<byte> shape)
        {
            var index = 0;
            return ProtoEdit.Rewrite(shape, f => f.Number == ShapeDim && index++ == 0 && DimValueOf(f) == 1, _ => symbolic);
        }
        ProtoPieces BatchDynamic(ReadOnlyMemory<byte> valueInfo) =>
            ProtoEdit.Rewrite(valueInfo, f => f.Number == ValueInfoType,
                type => ProtoEdit.Rewrite(type, f => f.Number == TypeTensor,
                    tensor => ProtoEdit.Rewrite(tensor, f => f.Number == TensorTypeShape, FirstDimSymbolic)));

        return ProtoEdit.Rewrite(model, f => f.Number == ModelGraph,
            graph => ProtoEdit.Rewrite(graph, f => f.Number is GraphInput or GraphOutput or GraphValueInfo, BatchDynamic)).ToArray();
    }

    /// <summary>A TensorShapeProto.Dimension's dim_value; null when it is symbolic or unknown.</summary>
    private static long? DimValueOf(ProtoField dim) =>
        ProtoReader.Fields(dim.Payload).Where(f => f.Number == DimValue).Select(f => (long?)f.Int64).FirstOrDefault();

    /// <summary>The graph's nodes, inputs and outputs; initializers are read on demand with <see cref="ReadFloats"/>.</summary>
    public static OnnxGraphView ReadGraph(ReadOnlyMemory<byte> model)
    {
        var graph = ProtoReader.Fields(model).LastOrDefault(f => f.Number == ModelGraph);
        if (graph.Number == 0) throw new InvalidDataException("the model has no graph");
        var fields = ProtoReader.Fields(graph.Payload);
        var nodes = fields.Where(f => f.Number == GraphNode).Select(f => ReadNode(f.Payload)).ToList();
        var initializers = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        foreach (var tensor in fields.Where(f => f.Number == GraphInitializer))
        {
            var name = ProtoReader.Fields(tensor.Payload).Where(f => f.Number == TensorName).Select(f => f.Text).FirstOrDefault() ?? "";
            initializers[name] = tensor.Payload;
        }
        return new OnnxGraphView(nodes, initializers,
            fields.Where(f => f.Number == GraphInput).Select(f => ReadValue(f.Payload)).ToList(),
            fields.Where(f => f.Number == GraphOutput).Select(f => ReadValue(f.Payload)).ToList());
    }

    /// <summary>A float32 tensor (TensorProto) as its dimensions and values (float_data, packed or not, or raw_data).</summary>
    public static (long[] Dims, float[] Values) ReadFloats(ReadOnlyMemory<byte> tensor)
    {
        var fields = ProtoReader.Fields(tensor);
        var dims = ProtoReader.Int64s(fields, TensorDims).ToArray();
        var type = fields.Where(f => f.Number == TensorDataType).Select(f => f.Int64).FirstOrDefault();
        if (type != Float32) throw new InvalidDataException($"tensor data type {type} is not float32");
        var count = dims.Aggregate(1L, (a, d) => a * d);
        var values = new List<float>((int)Math.Min(count, 1 << 24));
        foreach (var f in fields)
        {
            if (f.Number == TensorFloatData && f.Type == WireType.Fixed32) values.Add(BitConverter.UInt32BitsToSingle((uint)f.Scalar));
            else if (f.Number is TensorFloatData or TensorRawData && f.Type == WireType.LengthDelimited) AddLittleEndian(f.Payload.Span, values);
        }
        if (values.Count != count) throw new InvalidDataException($"tensor [{string.Join(",", dims)}] holds {values.Count} values");
        return (dims, values.ToArray());
    }

    private static void AddLittleEndian(ReadOnlySpan<byte> bytes, List<float> values)
    {
        if (bytes.Length % 4 != 0) throw new InvalidDataException("float32 data is not a whole number of floats");
        for (var i = 0; i < bytes.Length; i += 4) values.Add(BinaryPrimitives.ReadSingleLittleEndian(bytes[i..]));
    }

    private static OnnxNode ReadNode(ReadOnlyMemory<byte> node)
    {
        var fields = ProtoReader.Fields(node);
        var attributes = new Dictionary<string, IReadOnlyList<long>>(StringComparer.Ordinal);
        foreach (var a in fields.Where(f => f.Number == NodeAttribute))
        {
            var af = ProtoReader.Fields(a.Payload);
            var name = af.Where(f => f.Number == AttributeName).Select(f => f.Text).FirstOrDefault() ?? "";
            var ints = af.Any(f => f.Number == AttributeInt) ? ProtoReader.Int64s(af, AttributeInt) : ProtoReader.Int64s(af, AttributeInts);
            attributes[name] = ints;
        }
        return new OnnxNode(
            fields.Where(f => f.Number == NodeOpType).Select(f => f.Text).FirstOrDefault() ?? "",
            fields.Where(f => f.Number == NodeInput).Select(f => f.Text).ToList(),
            fields.Where(f => f.Number == NodeOutput).Select(f => f.Text).ToList(),
            attributes);
    }

    private static OnnxValue ReadValue(ReadOnlyMemory<byte> valueInfo)
    {
        var fields = ProtoReader.Fields(valueInfo);
        var name = fields.Where(f => f.Number == ValueInfoName).Select(f => f.Text).FirstOrDefault() ?? "";
        var shape = new List<long?>();
        foreach (var type in fields.Where(f => f.Number == ValueInfoType))
        foreach (var tensor in ProtoReader.Fields(type.Payload).Where(f => f.Number == TypeTensor))
        foreach (var s in ProtoReader.Fields(tensor.Payload).Where(f => f.Number == TensorTypeShape))
        foreach (var dim in ProtoReader.Fields(s.Payload).Where(f => f.Number == ShapeDim))
            shape.Add(DimValueOf(dim));
        return new OnnxValue(name, shape);
    }
}

/// <summary>What <see cref="OnnxModels.ReadGraph"/> found: nodes in file order, initializers by name (still encoded), inputs, outputs.</summary>
internal sealed record OnnxGraphView(
    IReadOnlyList<OnnxNode> Nodes,
    IReadOnlyDictionary<string, ReadOnlyMemory<byte>> Initializers,
    IReadOnlyList<OnnxValue> Inputs,
    IReadOnlyList<OnnxValue> Outputs);
