using System.Text;

namespace LvMae.Formats;

/// <summary>
/// The container of an LV-MAE training checkpoint: magic "LVMAECK1", a section count, then named length-prefixed
/// sections (BinaryWriter strings and Int64 sizes). What the sections hold (meta.json, model.safetensors, optimizer
/// state, ...) is src/Model's (<c>LvMae.Model.Training.Checkpoint</c>); this is the framing alone, so that a program
/// without the model (lvmae's `export --weights`) can take a checkpoint's weights out.
/// </summary>
public static class CheckpointFile
{
    private static readonly byte[] Magic = "LVMAECK1"u8.ToArray();

    /// <summary>The section of the model's weights: a standalone safetensors file with the reference parameter names.</summary>
    public const string ModelWeights = "model.safetensors";

    /// <summary>A checkpoint of these sections, in this order.</summary>
    public static byte[] Write(IReadOnlyList<(string Name, byte[] Bytes)> sections)
    {
        var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(sections.Count);
            foreach (var (name, bytes) in sections)
            {
                writer.Write(name);
                writer.Write((long)bytes.Length);
                writer.Write(bytes);
            }
        }
        return stream.ToArray();
    }

    /// <summary>The model weights inside a checkpoint, as a standalone safetensors file.</summary>
    public static byte[] ExtractWeights(byte[] checkpoint) => ReadSections(checkpoint)[ModelWeights];

    /// <summary>
    /// The named sections. Every size the file declares is checked against the bytes that follow before anything is
    /// allocated, so a corrupt or hostile header fails with a message instead of a multi-gigabyte allocation.
    /// </summary>
    public static Dictionary<string, byte[]> ReadSections(byte[] checkpoint)
    {
        using var stream = new MemoryStream(checkpoint, writable: false);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        long Left() => stream.Length - stream.Position;
        try
        {
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) throw new InvalidDataException("not an LV-MAE checkpoint (bad magic)");
            var count = reader.ReadInt32();
            // Each section takes at least a 1-byte name length and an 8-byte size.
            if (count < 0 || count > Left() / 9)
                throw new InvalidDataException($"corrupt checkpoint: header declares {count} sections in {checkpoint.Length} bytes");
            var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            for (var i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                var length = reader.ReadInt64();
                if (length < 0 || length > Left())
                    throw new InvalidDataException($"corrupt or truncated checkpoint: section '{name}' declares {length} bytes, {Left()} remain");
                sections[name] = reader.ReadBytes((int)length);
            }
            return sections;
        }
        catch (EndOfStreamException e) { throw new InvalidDataException($"truncated checkpoint ({checkpoint.Length} bytes): ended inside its section table", e); }
        catch (FormatException e) { throw new InvalidDataException($"corrupt checkpoint: unreadable section name ({e.Message})", e); }
    }
}
