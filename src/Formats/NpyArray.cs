using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LvMae.Formats;

/// <summary>A dense little-endian array as NumPy's .npy format stores it (C order).</summary>
/// <param name="DType">NumPy descr: "&lt;f4", "&lt;f8", "&lt;i8", "&lt;i4", "|b1" or "|u1".</param>
public sealed record NpyArray(string DType, long[] Shape, byte[] Data)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    public static NpyArray FromFloats(float[] values, params long[] shape)
    {
        Check(values.LongLength, shape);
        var data = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), values[i]);
        return new NpyArray("<f4", shape, data);
    }

    public static NpyArray FromLongs(long[] values, params long[] shape)
    {
        Check(values.LongLength, shape);
        var data = new byte[values.Length * 8];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(i * 8), values[i]);
        return new NpyArray("<i8", shape, data);
    }

    /// <summary>The values as float32, converting from f8/i8/i4/b1/u1 where needed.</summary>
    public float[] ToFloats()
    {
        var n = checked((int)Count);
        var result = new float[n];
        var span = Data.AsSpan();
        for (var i = 0; i < n; i++)
            result[i] = DType switch
            {
                "<f4" => BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]),
                "<f8" => (float)BinaryPrimitives.ReadDoubleLittleEndian(span[(i * 8)..]),
                "<i8" => BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..]),
                "<i4" => BinaryPrimitives.ReadInt32LittleEndian(span[(i * 4)..]),
                "|b1" or "|u1" => span[i],
                _ => throw new NotSupportedException($".npy dtype '{DType}' is not supported"),
            };
        return result;
    }

    /// <summary>The values as int64 (integer and boolean dtypes only).</summary>
    public long[] ToLongs()
    {
        var n = checked((int)Count);
        var result = new long[n];
        var span = Data.AsSpan();
        for (var i = 0; i < n; i++)
            result[i] = DType switch
            {
                "<i8" => BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..]),
                "<i4" => BinaryPrimitives.ReadInt32LittleEndian(span[(i * 4)..]),
                "|b1" or "|u1" => span[i],
                _ => throw new NotSupportedException($".npy dtype '{DType}' cannot be read as integers"),
            };
        return result;
    }

    private static void Check(long count, long[] shape)
    {
        if (shape.Aggregate(1L, (a, b) => a * b) != count)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] does not hold {count} values");
    }

    internal static int ItemSize(string dtype) => dtype switch
    {
        "<f4" or "<i4" => 4,
        "<f8" or "<i8" => 8,
        "|b1" or "|u1" => 1,
        _ => throw new NotSupportedException($".npy dtype '{dtype}' is not supported (use float32, float64, int32, int64, bool or uint8)"),
    };

    // ---- I/O ----------------------------------------------------------------------------------

    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        using var stream = File.OpenRead(path);
        try { return Read(stream); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>Reads one array; throws <see cref="InvalidDataException"/> naming the problem for anything malformed.</summary>
    public static NpyArray Read(Stream stream)
    {
        var header = ReadHeader(stream);
        var data = new byte[header.DataBytes];
        ReadExactly(stream, data, $"the .npy data ({header.DataBytes} bytes for shape [{string.Join(", ", header.Shape)}])");
        return new NpyArray(header.DType, header.Shape, data);
    }

    /// <summary>
    /// Reads and validates the preamble and header only, leaving <paramref name="stream"/> at the first data byte:
    /// what a reader of a few rows (an HTTP range) needs. Throws <see cref="InvalidDataException"/> naming the problem.
    /// </summary>
    public static NpyHeader ReadHeader(Stream stream)
    {
        Span<byte> prefix = stackalloc byte[10];
        ReadExactly(stream, prefix, "the .npy preamble");
        if (!prefix[..6].SequenceEqual(Magic)) throw new InvalidDataException("not a .npy file (bad magic)");
        int major = prefix[6];
        int headerLength, preambleLength = 10;
        if (major == 1) headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]);
        else if (major is 2 or 3)
        {
            Span<byte> more = stackalloc byte[2];
            ReadExactly(stream, more, "the .npy header length");
            headerLength = checked((int)(BinaryPrimitives.ReadUInt32LittleEndian([prefix[8], prefix[9], more[0], more[1]])));
            preambleLength = 12;
        }
        else throw new InvalidDataException($"unsupported .npy version {major}");
        if (headerLength is <= 0 or > 1 << 20) throw new InvalidDataException($"implausible .npy header length {headerLength}");

        var header = new byte[headerLength];
        ReadExactly(stream, header, "the .npy header");
        var text = Encoding.Latin1.GetString(header);
        var descr = Regex.Match(text, @"'descr'\s*:\s*'([^']+)'");
        var fortran = Regex.Match(text, @"'fortran_order'\s*:\s*(True|False)");
        var shape = Regex.Match(text, @"'shape'\s*:\s*\(([^)]*)\)");
        if (!descr.Success || !fortran.Success || !shape.Success) throw new InvalidDataException($"malformed .npy header: {text.Trim()}");
        if (fortran.Groups[1].Value == "True") throw new InvalidDataException("Fortran-ordered .npy arrays are not supported");
        var dtype = descr.Groups[1].Value == "<b1" ? "|b1" : descr.Groups[1].Value;
        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new InvalidDataException($"bad .npy shape entry '{s}'"))
            .ToArray();
        var count = dims.Aggregate(1L, (a, b) => checked(a * b));
        return new NpyHeader(dtype, dims, preambleLength + headerLength, checked(count * ItemSize(dtype)));
    }

    public void Write(string path)
    {
        var tmp = path + ".tmp";
        using (var stream = File.Create(tmp)) Write(stream);
        File.Move(tmp, path, overwrite: true);
    }

    public void Write(Stream stream)
    {
        if (Data.LongLength != checked(Count * ItemSize(DType))) throw new InvalidOperationException("data length does not match shape and dtype");
        var shapeText = Shape.Length == 1 ? $"({Shape[0]},)" : $"({string.Join(", ", Shape)})";
        var dict = $"{{'descr': '{DType}', 'fortran_order': False, 'shape': {shapeText}, }}";
        var unpadded = Magic.Length + 4 + dict.Length + 1;
        var padded = (unpadded + 63) / 64 * 64;
        var header = dict + new string(' ', padded - unpadded) + "\n";
        stream.Write(Magic);
        stream.Write([1, 0]);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, checked((ushort)header.Length));
        stream.Write(len);
        stream.Write(Encoding.Latin1.GetBytes(header));
        stream.Write(Data);
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string what)
    {
        try { stream.ReadExactly(buffer); }
        catch (EndOfStreamException) { throw new InvalidDataException($"truncated .npy file: ended inside {what}"); }
    }
}

/// <summary>What a .npy header declares: the array's dtype and shape, where its data starts and how long it is.</summary>
public sealed record NpyHeader(string DType, long[] Shape, int DataOffset, long DataBytes)
{
    public int ItemSize => NpyArray.ItemSize(DType);
    /// <summary>The whole file's length: header and data.</summary>
    public long FileBytes => DataOffset + DataBytes;
}
