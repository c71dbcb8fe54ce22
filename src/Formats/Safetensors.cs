using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LvMae.Formats;

/// <summary>One tensor as safetensors stores it: a dtype name ("F32", "F64", "I64", ...), a shape and
/// the raw little-endian bytes in C order.</summary>
public sealed record SafeTensor(string DType, long[] Shape, byte[] Data)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    public static SafeTensor FromFloats(float[] values, params long[] shape)
    {
        if (shape.Aggregate(1L, (a, b) => a * b) != values.LongLength)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] does not hold {values.Length} values");
        var data = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), values[i]);
        return new SafeTensor("F32", shape, data);
    }

    /// <summary>The values as float32 (from F32, F64, F16 or BF16).</summary>
    public float[] ToFloats()
    {
        var n = checked((int)Count);
        var result = new float[n];
        var span = Data.AsSpan();
        for (var i = 0; i < n; i++)
            result[i] = DType switch
            {
                "F32" => BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]),
                "F64" => (float)BinaryPrimitives.ReadDoubleLittleEndian(span[(i * 8)..]),
                "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(span[(i * 2)..]),
                "BF16" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span[(i * 2)..]) << 16),
                _ => throw new NotSupportedException($"safetensors dtype '{DType}' cannot be read as floats"),
            };
        return result;
    }

    public static int ItemSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => throw new NotSupportedException($"safetensors dtype '{dtype}' is not supported"),
    };
}

/// <summary>
/// The safetensors file format (huggingface/safetensors): an 8-byte little-endian header length, a
/// JSON header mapping names to {dtype, shape, data_offsets} plus optional "__metadata__" strings,
/// then the tensors' bytes. Plain bytes here; tensor conversion lives in LvMae.Model.
/// </summary>
public static class Safetensors
{
    public sealed record Contents(IReadOnlyDictionary<string, SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata);

    /// <summary>Largest data section <see cref="Read(Stream, long)"/> accepts unless told otherwise (1 GiB).</summary>
    public const long DefaultMaxDataBytes = 1L << 30;

    private const int MaxHeaderBytes = 100_000_000;

    public static Contents Read(string path, long maxDataBytes = DefaultMaxDataBytes)
    {
        using var stream = File.OpenRead(path);
        try { return Read(stream, maxDataBytes); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    public static Contents Read(byte[] bytes) => Read(new MemoryStream(bytes, writable: false));

    /// <summary>
    /// Reads every tensor; anything malformed throws <see cref="InvalidDataException"/> naming it. Sizes the header declares
    /// are checked before they are allocated: against <paramref name="maxDataBytes"/> and, for a seekable stream, against
    /// the bytes really there.
    /// </summary>
    public static Contents Read(Stream stream, long maxDataBytes = DefaultMaxDataBytes)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        ReadExactly(stream, lengthBytes, "the header length");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes) throw new InvalidDataException($"safetensors header of {headerLength} bytes is implausible");
        CheckAvailable(stream, (long)headerLength, "its header");
        var headerBytes = new byte[headerLength];
        ReadExactly(stream, headerBytes, "the header");
        JsonObject header;
        try { header = JsonNode.Parse(headerBytes) as JsonObject ?? throw new InvalidDataException("safetensors header is not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"safetensors header is not valid JSON: {e.Message}", e); }

        var entries = new List<(string Name, string DType, long[] Shape, long Begin, long End)>();
        var metadata = new Dictionary<string, string>();
        foreach (var (name, node) in header)
        {
            if (node is null) continue;
            if (name == "__metadata__")
            {
                foreach (var (key, value) in node as JsonObject ?? throw new InvalidDataException("safetensors '__metadata__' is not an object"))
                    metadata[key] = value is JsonValue v && v.TryGetValue<string>(out var text) ? text : throw new InvalidDataException($"safetensors metadata '{key}' is not a string");
                continue;
            }
            entries.Add(ParseEntry(name, node));
        }

        var dataLength = entries.Count == 0 ? 0 : entries.Max(e => e.End);
        CheckAvailable(stream, dataLength, "its tensors");
        if (dataLength > maxDataBytes) throw new InvalidDataException($"safetensors tensors need {dataLength} bytes, more than the {maxDataBytes} accepted");
        var data = new byte[dataLength];
        ReadExactly(stream, data, "the tensor data");
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var (name, dtype, shape, begin, end) in entries)
            tensors[name] = new SafeTensor(dtype, shape, data[(int)begin..(int)end]);
        return new Contents(tensors, metadata);
    }

    /// <summary>One header entry {dtype, shape, data_offsets}, checked: its offsets must span exactly what its shape needs.</summary>
    private static (string Name, string DType, long[] Shape, long Begin, long End) ParseEntry(string name, JsonNode node)
    {
        InvalidDataException Bad(string problem) => new($"safetensors entry '{name}': {problem}");
        try
        {
            var dtype = node["dtype"]?.GetValue<string>() ?? throw Bad("no dtype");
            var shape = (node["shape"] as JsonArray ?? throw Bad("no shape")).Select(v => v?.GetValue<long>() ?? throw Bad("null in shape")).ToArray();
            var offsets = (node["data_offsets"] as JsonArray ?? throw Bad("no data_offsets")).Select(v => v?.GetValue<long>() ?? throw Bad("null in data_offsets")).ToArray();
            if (offsets.Length != 2) throw Bad($"data_offsets has {offsets.Length} values, not 2");
            if (shape.Any(d => d < 0)) throw Bad($"negative dimension in shape [{string.Join(", ", shape)}]");
            long expected;
            try { expected = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * SafeTensor.ItemSize(dtype)); }
            catch (OverflowException) { throw Bad($"shape [{string.Join(", ", shape)}] is too large to address (overflow)"); }
            catch (NotSupportedException e) { throw Bad(e.Message); }
            var (begin, end) = (offsets[0], offsets[1]);
            if (begin < 0 || end < begin || end - begin != expected)
                throw Bad($"offsets [{begin}, {end}) do not span the {expected} bytes its shape needs");
            return (name, dtype, shape, begin, end);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw Bad($"malformed ({e.Message})");
        }
    }

    private static void CheckAvailable(Stream stream, long needed, string what)
    {
        if (stream.CanSeek && stream.Length - stream.Position < needed)
            throw new InvalidDataException($"truncated safetensors: {what} declared as {needed} bytes, only {stream.Length - stream.Position} are left");
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string what)
    {
        try { stream.ReadExactly(buffer); }
        catch (EndOfStreamException) { throw new InvalidDataException($"truncated safetensors: ended inside {what}"); }
    }

    public static void Write(string path, IReadOnlyDictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var stream = File.Create(path);
        Write(stream, tensors, metadata);
    }

    public static byte[] ToBytes(IReadOnlyDictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var stream = new MemoryStream();
        Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    /// <summary>Writes tensors in name order (deterministic bytes), header padded with spaces to 8 bytes.</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) meta[key] = value;
            header["__metadata__"] = meta;
        }
        var ordered = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        long offset = 0;
        foreach (var (name, tensor) in ordered)
        {
            var expected = tensor.Count * SafeTensor.ItemSize(tensor.DType);
            if (tensor.Data.LongLength != expected) throw new ArgumentException($"tensor '{name}' holds {tensor.Data.Length} bytes, its shape needs {expected}");
            header[name] = new JsonObject
            {
                ["dtype"] = tensor.DType,
                ["shape"] = new JsonArray(tensor.Shape.Select(s => (JsonNode)JsonValue.Create(s)).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + expected)),
            };
            offset += expected;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        var padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[padded];
        Array.Fill(headerBytes, (byte)' ');
        json.CopyTo(headerBytes, 0);

        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)padded);
        stream.Write(lengthBytes);
        stream.Write(headerBytes);
        foreach (var (_, tensor) in ordered) stream.Write(tensor.Data);
    }
}
