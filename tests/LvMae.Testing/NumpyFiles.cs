using System.Buffers.Binary;
using System.Text;

namespace LvMae.Testing;

/// <summary>.npy files byte for byte as NumPy writes them, for the layouts NumPy produces (checked against NumPy 1.24.2 in LvMae.Formats.Tests).</summary>
public static class NumpyFiles
{
    /// <summary>
    /// A .npy file as numpy.save writes it: magic, version 1.0, the header dict's repr padded with spaces to a multiple
    /// of 64 bytes and ended by '\n', then the data in the given memory order and byte order.
    /// </summary>
    public static byte[] Save(string descr, bool fortran, long[] shape, double[] rowMajor)
    {
        var shapeText = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        var dict = $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': {shapeText}, }}";
        var total = (10 + dict.Length + 1 + 63) / 64 * 64;
        var header = dict + new string(' ', total - 10 - dict.Length - 1) + "\n";
        var size = int.Parse(descr[2..]);
        var bigEndian = descr[0] == '>';
        var order = fortran ? FortranOrder(shape) : Enumerable.Range(0, rowMajor.Length).ToArray();
        var data = new byte[rowMajor.Length * size];
        for (var i = 0; i < order.Length; i++)
        {
            var span = data.AsSpan(i * size, size);
            var v = rowMajor[order[i]];
            switch (size)
            {
                case 2: if (bigEndian) BinaryPrimitives.WriteHalfBigEndian(span, (Half)v); else BinaryPrimitives.WriteHalfLittleEndian(span, (Half)v); break;
                case 4: if (bigEndian) BinaryPrimitives.WriteSingleBigEndian(span, (float)v); else BinaryPrimitives.WriteSingleLittleEndian(span, (float)v); break;
                default: if (bigEndian) BinaryPrimitives.WriteDoubleBigEndian(span, v); else BinaryPrimitives.WriteDoubleLittleEndian(span, v); break;
            }
        }
        var file = new List<byte>([0x93, .. "NUMPY"u8, 1, 0, (byte)(header.Length & 0xFF), (byte)(header.Length >> 8)]);
        file.AddRange(Encoding.Latin1.GetBytes(header));
        file.AddRange(data);
        return [.. file];
    }

    /// <summary>Malformed .npy files, each with the part of the reader's error that names its problem.</summary>
    public static IReadOnlyList<(string Name, byte[] Bytes, string Expected)> Malformed { get; } = MakeMalformed();

    private static List<(string, byte[], string)> MakeMalformed()
    {
        var good = Save("<f4", false, [2, 2], [1, 2, 3, 4]);
        static byte[] WithHeader(string dict)
        {
            var header = dict + "\n";
            return [0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0, .. Encoding.Latin1.GetBytes(header), .. new byte[64]];
        }
        return
        [
            ("bad magic", "PK\x03\x04 a zip file"u8.ToArray(), "bad magic"),
            ("version 9", [0x93, .. "NUMPY"u8, 9, 0, 10, 0, .. "{}        "u8], "unsupported .npy version 9"),
            ("header length beyond the file", [0x93, .. "NUMPY"u8, 1, 0, 0xFF, 0xFF, .. "{'descr'"u8], "its header needs 65535 bytes"),
            ("version 2 header of 4 GB", [0x93, .. "NUMPY"u8, 2, 0, 0xFF, 0xFF, 0xFF, 0xFF], "implausible .npy header length"),
            ("ends inside the preamble", good[..7], "ended inside the .npy preamble"),
            ("ends inside the data", good[..^3], "only 13 bytes follow"),
            ("no shape", WithHeader("{'descr': '<f4', 'fortran_order': False, }"), "malformed .npy header"),
            ("negative dimension", WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }"), "bad .npy shape entry '-3'"),
            ("words in the shape", WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (two, 3), }"), "bad .npy shape entry 'two'"),
            ("shape that overflows", WithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), "too large to address"),
            ("complex dtype", WithHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }"), "'<c8' is not supported"),
            ("object dtype (pickles)", WithHeader("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"), "'|O' is not supported"),
            ("unicode strings", WithHeader("{'descr': '<U8', 'fortran_order': False, 'shape': (2,), }"), "'<U8' is not supported"),
        ];
    }

    /// <summary>Row-major indices in column-major (first index fastest) order.</summary>
    private static int[] FortranOrder(long[] shape)
    {
        var count = (int)shape.Aggregate(1L, (a, b) => a * b);
        var result = new int[count];
        var index = new long[shape.Length];
        for (var f = 0; f < count; f++)
        {
            long c = 0;
            for (var d = 0; d < shape.Length; d++) c = c * shape[d] + index[d];
            result[f] = (int)c;
            for (var d = 0; d < shape.Length && ++index[d] == shape[d]; d++) index[d] = 0;
        }
        return result;
    }
}
