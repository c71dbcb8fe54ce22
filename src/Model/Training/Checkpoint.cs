using System.Text;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace LvMae.Model.Training;

/// <summary>
/// One self-contained training checkpoint (a byte[] for blob storage): magic "LVMAECK1", then named
/// length-prefixed sections - "meta.json" (options incl. model config, step, tokens seen, seed: the
/// mask RNG is a function of seed and step), "model.safetensors" (reference names), "optimizer.bin"
/// (TorchSharp AdamW state: moments and step counts), "rng.bin" (the trainer's torch generator state).
/// </summary>
public static class Checkpoint
{
    private static readonly byte[] Magic = "LVMAECK1"u8.ToArray();

    public static byte[] Save(Trainer trainer)
    {
        var sections = new List<(string, byte[])>();
        var meta = new JsonObject
        {
            ["format"] = 1,
            ["step"] = trainer.StepCount,
            ["tokens_seen"] = trainer.TokensSeen,
            ["options"] = JsonNode.Parse(trainer.Options.ToJson()),
        };
        sections.Add(("meta.json", Encoding.UTF8.GetBytes(meta.ToJsonString())));
        sections.Add(("model.safetensors", ModelWeights.ToBytes(trainer.Model)));
        sections.Add(("optimizer.bin", Capture(trainer.SaveOptimizer)));
        using (var rng = trainer.Generator.get_state()) sections.Add(("rng.bin", rng.data<byte>().ToArray()));

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

    public static Trainer Load(byte[] checkpoint, string? device = "auto")
    {
        var sections = ReadSections(checkpoint);
        var meta = JsonNode.Parse(sections["meta.json"])!.AsObject();
        var options = TrainerOptions.FromJson(meta["options"]!.ToJsonString());
        var trainer = new Trainer(options, device);
        ModelWeights.Load(trainer.Model, sections["model.safetensors"]);
        using (var reader = new BinaryReader(new MemoryStream(sections["optimizer.bin"]))) trainer.LoadOptimizer(reader);
        using (var rng = tensor(sections["rng.bin"], dtype: ScalarType.Byte)) trainer.Generator.set_state(rng);
        trainer.Restore(meta["step"]!.GetValue<long>(), meta["tokens_seen"]!.GetValue<long>());
        return trainer;
    }

    /// <summary>The options and step recorded in a checkpoint, without building a model.</summary>
    public static (TrainerOptions Options, long Step) ReadHeader(byte[] checkpoint)
    {
        var meta = JsonNode.Parse(ReadSections(checkpoint)["meta.json"])!.AsObject();
        return (TrainerOptions.FromJson(meta["options"]!.ToJsonString()), meta["step"]!.GetValue<long>());
    }

    /// <summary>The model weights inside a checkpoint, as a standalone safetensors file.</summary>
    public static byte[] ExtractWeights(byte[] checkpoint) => ReadSections(checkpoint)["model.safetensors"];

    private static Dictionary<string, byte[]> ReadSections(byte[] checkpoint)
    {
        using var reader = new BinaryReader(new MemoryStream(checkpoint), Encoding.UTF8);
        if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) throw new InvalidDataException("not an LV-MAE checkpoint (bad magic)");
        var count = reader.ReadInt32();
        var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var name = reader.ReadString();
            var length = reader.ReadInt64();
            sections[name] = reader.ReadBytes(checked((int)length));
        }
        return sections;
    }

    /// <summary>Runs a writer into a fresh buffer (TorchSharp may close the stream it is given).</summary>
    private static byte[] Capture(Action<BinaryWriter> write)
    {
        var stream = new MemoryStream();
        var writer = new BinaryWriter(stream);
        write(writer);
        writer.Flush();
        return stream.ToArray();
    }
}
