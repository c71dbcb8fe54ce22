using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace LvMae.Media;

// Just enough of the protobuf wire format (https://protobuf.dev/programming-guides/encoding/) to read and edit ONNX
// models in memory: the ONNX Runtime package ships no protobuf library, and the edits LvMae makes touch a few fields.
// Fields nobody edits are copied byte for byte, so an edit changes nothing else in the model.

/// <summary>Protobuf wire types. Groups (3 and 4) are deprecated and never used by ONNX: they are rejected.</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    Fixed32 = 5,
}

/// <summary>
/// One field of a message as it is on the wire: <see cref="Scalar"/> holds varint and fixed values,
/// <see cref="Payload"/> the bytes of a length-delimited one (a string, bytes, a nested message or a packed array),
/// <see cref="Encoded"/> the whole field, key included (what a verbatim copy writes).
/// </summary>
internal readonly record struct ProtoField(int Number, WireType Type, ulong Scalar, ReadOnlyMemory<byte> Payload, ReadOnlyMemory<byte> Encoded)
{
    public long Int64 => (long)Scalar;
    public string Text => Encoding.UTF8.GetString(Payload.Span);
}

internal static class ProtoReader
{
    /// <summary>The fields of <paramref name="message"/> in wire order; throws <see cref="InvalidDataException"/> when malformed.</summary>
    public static List<ProtoField> Fields(ReadOnlyMemory<byte> message)
    {
        var span = message.Span;
        var fields = new List<ProtoField>();
        var position = 0;
        while (position < span.Length)
        {
            var start = position;
            var key = ReadVarint(span, ref position);
            var number = key >> 3;
            if (number is 0 or > int.MaxValue) throw new InvalidDataException($"protobuf field number {number} at byte {start}");
            var type = (WireType)(key & 7);
            ulong scalar = 0;
            var payload = ReadOnlyMemory<byte>.Empty;
            switch (type)
            {
                case WireType.Varint:
                    scalar = ReadVarint(span, ref position);
                    break;
                case WireType.Fixed64:
                    scalar = BinaryPrimitives.ReadUInt64LittleEndian(Take(span, ref position, 8));
                    break;
                case WireType.Fixed32:
                    scalar = BinaryPrimitives.ReadUInt32LittleEndian(Take(span, ref position, 4));
                    break;
                case WireType.LengthDelimited:
                    var length = ReadVarint(span, ref position);
                    if (length > (ulong)(span.Length - position))
                        throw new InvalidDataException($"protobuf field {number} at byte {start} claims {length} bytes, {span.Length - position} are left");
                    payload = message.Slice(position, (int)length);
                    position += (int)length;
                    break;
                default:
                    throw new InvalidDataException($"protobuf wire type {(int)type} (field {number} at byte {start}) is not supported");
            }
            fields.Add(new ProtoField((int)number, type, scalar, payload, message[start..position]));
        }
        return fields;
    }

    /// <summary>The values of a repeated integer field, whether written packed (one length-delimited field) or one field per value.</summary>
    public static List<long> Int64s(IEnumerable<ProtoField> fields, int number)
    {
        var values = new List<long>();
        foreach (var field in fields.Where(f => f.Number == number))
        {
            if (field.Type == WireType.Varint)
            {
                values.Add(field.Int64);
                continue;
            }
            if (field.Type != WireType.LengthDelimited) throw new InvalidDataException($"field {number} is not an integer");
            var span = field.Payload.Span;
            var position = 0;
            while (position < span.Length) values.Add((long)ReadVarint(span, ref position));
        }
        return values;
    }

    public static ulong ReadVarint(ReadOnlySpan<byte> span, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= span.Length) throw new InvalidDataException("protobuf varint runs past the end of the message");
            var b = span[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }
        throw new InvalidDataException("protobuf varint longer than 10 bytes");
    }

    private static ReadOnlySpan<byte> Take(ReadOnlySpan<byte> span, ref int position, int count)
    {
        if (span.Length - position < count) throw new InvalidDataException("protobuf fixed-size field runs past the end of the message");
        var result = span.Slice(position, count);
        position += count;
        return result;
    }
}

/// <summary>Writes protobuf fields; nested messages are written whole (their length first).</summary>
internal sealed class ProtoWriter(int capacity = 256)
{
    private readonly ArrayBufferWriter<byte> _buffer = new(Math.Max(16, capacity));

    public ReadOnlySpan<byte> Written => _buffer.WrittenSpan;
    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    public ProtoWriter Int(int number, long value)
    {
        Key(number, WireType.Varint);
        Varint((ulong)value); // negative int64 is ten bytes of two's complement, as protobuf says
        return this;
    }

    public ProtoWriter String(int number, string value) => Bytes(number, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Message(int number, ProtoWriter message) => Bytes(number, message.Written);

    public ProtoWriter Bytes(int number, ReadOnlySpan<byte> value)
    {
        LengthPrefix(number, value.Length);
        _buffer.Write(value);
        return this;
    }

    /// <summary>The key and length of a length-delimited field whose <paramref name="length"/> payload bytes the caller writes next.</summary>
    public ProtoWriter LengthPrefix(int number, int length)
    {
        Key(number, WireType.LengthDelimited);
        Varint((ulong)length);
        return this;
    }

    public ProtoWriter PackedInts(int number, IEnumerable<long> values)
    {
        var packed = new ProtoWriter();
        foreach (var v in values) packed.Varint((ulong)v);
        return Bytes(number, packed.Written);
    }

    private void Key(int number, WireType type) => Varint(((ulong)(uint)number << 3) | (uint)type);

    private void Varint(ulong value)
    {
        var span = _buffer.GetSpan(10);
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[n++] = (byte)value;
        _buffer.Advance(n);
    }
}

/// <summary>
/// A message being rebuilt, as a list of byte ranges: fields that are copied stay slices of the original buffer, so
/// editing a few small fields of a large model copies its bulk (the weights) once, when <see cref="ToArray"/> flattens it.
/// </summary>
internal sealed class ProtoPieces
{
    private readonly List<ReadOnlyMemory<byte>> _pieces = [];

    public int Length { get; private set; }

    public void Add(ReadOnlyMemory<byte> bytes)
    {
        _pieces.Add(bytes);
        Length = checked(Length + bytes.Length);
    }

    /// <summary>A length-delimited field <paramref name="number"/> whose payload is <paramref name="payload"/>.</summary>
    public void AddField(int number, ProtoPieces payload)
    {
        Add(new ProtoWriter(16).LengthPrefix(number, payload.Length).ToArray());
        foreach (var piece in payload._pieces) Add(piece);
    }

    public byte[] ToArray()
    {
        var result = new byte[Length];
        var offset = 0;
        foreach (var piece in _pieces)
        {
            piece.Span.CopyTo(result.AsSpan(offset));
            offset += piece.Length;
        }
        return result;
    }
}

internal static class ProtoEdit
{
    /// <summary>
    /// <paramref name="message"/> with the payload of each length-delimited field that <paramref name="select"/> picks
    /// replaced by <paramref name="replace"/>(payload); every other field is kept verbatim, in order.
    /// </summary>
    public static ProtoPieces Rewrite(ReadOnlyMemory<byte> message, Func<ProtoField, bool> select, Func<ReadOnlyMemory<byte>, ProtoPieces> replace)
    {
        var result = new ProtoPieces();
        foreach (var field in ProtoReader.Fields(message))
        {
            if (field.Type == WireType.LengthDelimited && select(field)) result.AddField(field.Number, replace(field.Payload));
            else result.Add(field.Encoded);
        }
        return result;
    }
}
