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

    public static Contents Read(string path)
    {
        using var stream = File.OpenRead(path);
        return Read(stream);
    }

    public static Contents Read(byte[] bytes) => Read(new MemoryStream(bytes, writable: false));

    public static Contents Read(Stream stream)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > 100_000_000) throw new InvalidDataException($"safetensors header of {headerLength} bytes is implausible");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var header = JsonNode.Parse(headerBytes)?.AsObject() ?? throw new InvalidDataException("safetensors header is not a JSON object");

        var entries = new List<(string Name, string DType, long[] Shape, long Begin, long End)>();
        var metadata = new Dictionary<string, string>();
        foreach (var (name, node) in header)
        {
            if (node is null) continue;
            if (name == "__metadata__")
            {
                foreach (var (key, value) in node.AsObject()) metadata[key] = value?.GetValue<string>() ?? "";
                continue;
            }
            var dtype = node["dtype"]!.GetValue<string>();
            var shape = node["shape"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
            var offsets = node["data_offsets"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
            entries.Add((name, dtype, shape, offsets[0], offsets[1]));
        }

        var dataLength = entries.Count == 0 ? 0 : entries.Max(e => e.End);
        var data = new byte[dataLength];
        stream.ReadExactly(data);
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var (name, dtype, shape, begin, end) in entries)
        {
            var expected = shape.Aggregate(1L, (a, b) => a * b) * SafeTensor.ItemSize(dtype);
            if (end - begin != expected || begin < 0 || end > dataLength)
                throw new InvalidDataException($"safetensors entry '{name}' has offsets [{begin}, {end}) for {expected} bytes");
            tensors[name] = new SafeTensor(dtype, shape, data[(int)begin..(int)end]);
        }
        return new Contents(tensors, metadata);
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
