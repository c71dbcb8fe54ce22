using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LvMae.Formats;

/// <summary>
/// A dense little-endian array in C order, as NumPy's .npy format stores it. <see cref="Read(Stream, long)"/> converts
/// what NumPy also writes (big-endian dtypes, Fortran order) into that form, so every consumer sees one layout.
/// </summary>
/// <param name="DType">NumPy descr: "&lt;f4", "&lt;f8", "&lt;f2", "&lt;i8", "&lt;i4", "|b1" or "|u1".</param>
public sealed partial record NpyArray(string DType, long[] Shape, byte[] Data)
{
    /// <summary>Largest data section <see cref="Read(Stream, long)"/> accepts unless told otherwise (1 GiB).</summary>
    public const long DefaultMaxDataBytes = 1L << 30;

    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>True for the floating-point dtypes (float16, float32, float64).</summary>
    public bool IsFloatingPoint => IsFloatingPointDType(DType);

    /// <summary>True for the canonical (little-endian) floating-point dtypes "&lt;f2", "&lt;f4", "&lt;f8".</summary>
    public static bool IsFloatingPointDType(string dtype) => dtype is "<f2" or "<f4" or "<f8";

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

    /// <summary>The values as float32, converting from f2/f8/i8/i4/b1/u1 where needed.</summary>
    public float[] ToFloats()
    {
        var result = new float[checked((int)Count)];
        ReadFloats(DType, Data, result);
        return result;
    }

    /// <summary>Canonical (little-endian) elements of <paramref name="dtype"/> in <paramref name="bytes"/> as float32 into <paramref name="values"/>.</summary>
    private static void ReadFloats(string dtype, ReadOnlySpan<byte> bytes, Span<float> values)
    {
        for (var i = 0; i < values.Length; i++)
            values[i] = dtype switch
            {
                "<f4" => BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]),
                "<f8" => (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes[(i * 8)..]),
                "<f2" => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(i * 2)..]),
                "<i8" => BinaryPrimitives.ReadInt64LittleEndian(bytes[(i * 8)..]),
                "<i4" => BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * 4)..]),
                "|b1" or "|u1" => bytes[i],
                _ => throw new NotSupportedException($".npy dtype '{dtype}' is not supported"),
            };
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

    private static int ItemSize(string dtype) => dtype switch
    {
        "<f4" or "<i4" => 4,
        "<f8" or "<i8" => 8,
        "<f2" => 2,
        "|b1" or "|u1" => 1,
        _ => throw new NotSupportedException($".npy dtype '{dtype}' is not supported (use float16, float32, float64, int32, int64, bool or uint8)"),
    };

    // ---- I/O ----------------------------------------------------------------------------------

    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path, long maxDataBytes = DefaultMaxDataBytes)
    {
        using var stream = File.OpenRead(path);
        try { return Read(stream, maxDataBytes); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>
    /// Reads one array; throws <see cref="InvalidDataException"/> naming the problem for anything malformed. The size the
    /// header declares is checked before anything is allocated: against <paramref name="maxDataBytes"/> and, for a seekable
    /// stream, against the bytes that are really there (a 200-byte file cannot hold a [500000, 1000] array).
    /// </summary>
    public static NpyArray Read(Stream stream, long maxDataBytes = DefaultMaxDataBytes)
    {
        var header = NpyHeader.Read(stream);
        CheckDataSize(header, stream.CanSeek ? stream.Length - stream.Position : null, maxDataBytes);
        var data = ReadBounded(stream, header.DataBytes, $"the .npy data ({header.Declared})");
        return header.ToCanonical(data);
    }

    /// <summary>
    /// Reads one array's header and hands its values to <paramref name="visit"/> as float32, a chunk at a time in file order
    /// (the first axis fastest in a Fortran-order file) with the index of the chunk's first value: checks a file of any size
    /// in constant memory. <paramref name="length"/> is the stream's whole length where known (a download's Content-Length);
    /// the declared size is checked against it and <paramref name="maxDataBytes"/> as by <see cref="Read(Stream, long)"/>, and
    /// <paramref name="accept"/> sees the header before any data is read (it throws to refuse it).
    /// </summary>
    public static NpyHeader ScanFloats(Stream stream, long? length, long maxDataBytes, Action<NpyHeader> accept, Action<ReadOnlySpan<float>, long> visit)
    {
        var header = NpyHeader.Read(stream);
        CheckDataSize(header, length - header.DataOffset, maxDataBytes);
        accept(header);
        var (dtype, size) = (header.CanonicalDType, header.ItemBytes);
        var bytes = new byte[Math.Max(size, (1 << 20) / size * size)];
        var values = new float[bytes.Length / size];
        long first = 0;
        for (var left = header.DataBytes; left > 0;)
        {
            var chunk = bytes.AsSpan(0, (int)Math.Min(bytes.Length, left));
            ReadExactly(stream, chunk, $"the .npy data ({header.Declared})");
            if (header.Descr[0] == '>' && size > 1)
                for (var i = 0; i < chunk.Length; i += size) chunk.Slice(i, size).Reverse();
            var count = chunk.Length / size;
            ReadFloats(dtype, chunk, values.AsSpan(0, count));
            visit(values.AsSpan(0, count), first);
            (first, left) = (first + count, left - chunk.Length);
        }
        return header;
    }

    /// <summary>A header that declares more data than <paramref name="available"/> (when known) or <paramref name="maxDataBytes"/> is refused before anything is allocated for it.</summary>
    private static void CheckDataSize(NpyHeader header, long? available, long maxDataBytes)
    {
        if (available is { } there && there < header.DataBytes)
            throw new InvalidDataException($"truncated .npy file: its header declares {header.Declared} but only {there} bytes follow it");
        if (header.DataBytes > maxDataBytes)
            throw new InvalidDataException($"its header declares {header.Declared}, more than the {maxDataBytes} bytes accepted");
    }

    /// <summary>
    /// Reads exactly <paramref name="bytes"/>; a stream that cannot say its length is read in chunks, so memory follows the
    /// bytes that really arrive rather than what a header claims.
    /// </summary>
    private static byte[] ReadBounded(Stream stream, long bytes, string what)
    {
        const int chunk = 16 << 20;
        if (stream.CanSeek || bytes <= chunk)
        {
            var data = new byte[bytes];
            ReadExactly(stream, data, what);
            return data;
        }
        var parts = new List<byte[]>();
        for (var left = bytes; left > 0; left -= chunk)
        {
            var part = new byte[Math.Min(chunk, left)];
            ReadExactly(stream, part, what);
            parts.Add(part);
        }
        var whole = new byte[bytes];
        var offset = 0;
        foreach (var part in parts) { part.CopyTo(whole, offset); offset += part.Length; }
        return whole;
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
        stream.Write(NpyHeader.Encode(DType, fortranOrder: false, Shape));
        stream.Write(Data);
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string what)
    {
        try { stream.ReadExactly(buffer); }
        catch (EndOfStreamException) { throw new InvalidDataException($"truncated .npy file: ended inside {what}"); }
    }

    /// <summary>
    /// Reads and validates the preamble and header only, leaving <paramref name="stream"/> at the first data byte: what a
    /// reader of a few rows (an HTTP range) needs. Throws <see cref="InvalidDataException"/> naming the problem.
    /// </summary>
    public static NpyHeader ReadHeader(Stream stream) => NpyHeader.Read(stream);

    /// <summary>The header of a .npy file: dtype, memory order and shape, as NumPy writes them (format versions 1-3).</summary>
    /// <param name="DataOffset">Where the data starts in the file (preamble + header).</param>
    public sealed partial record NpyHeader(string Descr, bool FortranOrder, long[] Shape, int DataOffset)
    {
        /// <summary>"&lt;f4" for both "&lt;f4" and "&gt;f4": the dtype once the bytes are little-endian.</summary>
        public string CanonicalDType => Descr switch
        {
            "<b1" or "|b1" => "|b1",
            "|u1" or "<u1" or ">u1" => "|u1",
            _ when Descr.Length > 1 && Descr[0] is '<' or '>' => "<" + Descr[1..],
            _ => Descr,
        };

        public int ItemBytes => ItemSize(CanonicalDType);

        public long DataBytes => checked(Shape.Aggregate(1L, (a, b) => checked(a * b)) * ItemBytes);

        /// <summary>The whole file's length: preamble, header and data.</summary>
        public long FileBytes => DataOffset + DataBytes;

        /// <summary>What the header declares, as errors say it: "800 bytes for shape [10, 20] of '&lt;f4'".</summary>
        public string Declared => $"{DataBytes} bytes for shape [{string.Join(", ", Shape)}] of '{Descr}'";

        public static NpyHeader Read(Stream stream)
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
                var length = BinaryPrimitives.ReadUInt32LittleEndian([prefix[8], prefix[9], more[0], more[1]]);
                headerLength = length > int.MaxValue ? -1 : (int)length;
                preambleLength = 12;
            }
            else throw new InvalidDataException($"unsupported .npy version {major}");
            if (headerLength is <= 0 or > 1 << 20) throw new InvalidDataException($"implausible .npy header length {headerLength}");
            if (stream.CanSeek && stream.Length - stream.Position < headerLength)
                throw new InvalidDataException($"truncated .npy file: its header needs {headerLength} bytes, {stream.Length - stream.Position} are left");

            var header = new byte[headerLength];
            ReadExactly(stream, header, "the .npy header");
            var text = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(header);
            var descr = DescrPattern().Match(text);
            var fortran = FortranPattern().Match(text);
            var shape = ShapePattern().Match(text);
            if (!descr.Success || !fortran.Success || !shape.Success) throw new InvalidDataException($"malformed .npy header: {Shorten(text.Trim())}");
            var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => long.TryParse(s.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new InvalidDataException($"bad .npy shape entry '{Shorten(s)}'"))
                .ToArray();
            var parsed = new NpyHeader(descr.Groups[1].Value, fortran.Groups[1].Value == "True", dims, preambleLength + headerLength);
            try { _ = parsed.DataBytes; }
            catch (OverflowException) { throw new InvalidDataException($"shape [{string.Join(", ", dims)}] is too large to address (overflow)"); }
            return parsed;
        }

        /// <summary>Version 1.0 header bytes exactly as numpy.lib.format writes them: dict repr, spaces to a 64-byte boundary, '\n'.</summary>
        public static byte[] Encode(string descr, bool fortranOrder, long[] shape)
        {
            var shapeText = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
            var dict = $"{{'descr': '{descr}', 'fortran_order': {(fortranOrder ? "True" : "False")}, 'shape': {shapeText}, }}";
            var unpadded = Magic.Length + 4 + dict.Length + 1;
            var padded = (unpadded + 63) / 64 * 64;
            var header = dict + new string(' ', padded - unpadded) + "\n";
            var bytes = new byte[Magic.Length + 4 + header.Length];
            Magic.CopyTo(bytes, 0);
            bytes[6] = 1;
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), checked((ushort)header.Length));
            Encoding.Latin1.GetBytes(header, bytes.AsSpan(10));
            return bytes;
        }

        /// <summary>The data as a little-endian C-order <see cref="NpyArray"/>: bytes swapped and axes reordered where NumPy wrote otherwise.</summary>
        public NpyArray ToCanonical(byte[] data)
        {
            var dtype = CanonicalDType;
            var size = ItemBytes;
            if (Descr[0] == '>' && size > 1)
                for (var i = 0; i < data.Length; i += size) data.AsSpan(i, size).Reverse();
            if (FortranOrder && Shape.Length > 1) data = FortranToC(data, Shape, size);
            return new NpyArray(dtype, Shape, data);
        }

        /// <summary>Column-major (first index fastest) to row-major (last index fastest).</summary>
        private static byte[] FortranToC(byte[] data, long[] shape, int size)
        {
            var rank = shape.Length;
            var fortranStride = new long[rank];
            fortranStride[0] = 1;
            for (var d = 1; d < rank; d++) fortranStride[d] = fortranStride[d - 1] * shape[d - 1];
            var result = new byte[data.Length];
            var index = new long[rank];
            long source = 0;
            for (long target = 0; target < result.LongLength / size; target++)
            {
                Buffer.BlockCopy(data, (int)(source * size), result, (int)(target * size), size);
                // Advance the C-order index (last axis fastest), keeping the Fortran offset in step.
                for (var d = rank - 1; d >= 0; d--)
                {
                    index[d]++;
                    source += fortranStride[d];
                    if (index[d] < shape[d]) break;
                    source -= fortranStride[d] * shape[d];
                    index[d] = 0;
                }
            }
            return result;
        }

        private static string Shorten(string text) => text.Length > 200 ? text[..200] + "..." : text;

        [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")]
        private static partial Regex DescrPattern();

        [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
        private static partial Regex FortranPattern();

        [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
        private static partial Regex ShapePattern();
    }
}
