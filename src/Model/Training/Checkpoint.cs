using System.Text;
using System.Text.Json.Nodes;
using LvMae.Formats;
using LvMae.Model.Adaptive;
using LvMae.Model.Quantization;
using static TorchSharp.torch;

namespace LvMae.Model.Training;

/// <summary>
/// One self-contained training checkpoint (a byte[] for blob storage): magic "LVMAECK1", then named
/// length-prefixed sections - "meta.json" (options incl. model config, step, tokens seen, seed: the
/// mask RNG is a function of seed and step), "model.safetensors" (reference names), "optimizer.bin"
/// (TorchSharp AdamW state: moments and step counts; an FSQ code head's too), "rng.bin" (the trainer's torch
/// generator state); with adaptive decoder masking "scorer.safetensors", "scorer_optimizer.bin", "scorer_rng.bin";
/// with FSQ targets "fsq.safetensors" (the frozen autoencoder; levels and width in meta.json) and
/// "fsq_head.safetensors" (the code head).
/// </summary>
public static class Checkpoint
{
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
        sections.Add((CheckpointFile.ModelWeights, ModelWeights.ToBytes(trainer.Model)));
        sections.Add(("optimizer.bin", Capture(trainer.SaveOptimizer)));
        using (var rng = trainer.Generator.get_state()) sections.Add(("rng.bin", rng.data<byte>().ToArray()));
        if (trainer.Scorer is { } scorer)
        {
            sections.Add(("scorer.safetensors", Safetensors.ToBytes(scorer.Weights())));
            sections.Add(("scorer_optimizer.bin", Capture(scorer.SaveOptimizer)));
            using var rng = scorer.Generator.get_state();
            sections.Add(("scorer_rng.bin", rng.data<byte>().ToArray()));
        }
        if (trainer.Fsq is { } fsq)
        {
            meta["fsq"] = new JsonObject { ["levels"] = new JsonArray(fsq.Quantizer.Levels.Select(l => (JsonNode)l).ToArray()), ["hidden"] = fsq.Hidden };
            sections.Add(("fsq.safetensors", Safetensors.ToBytes(ModelWeights.ToSafeTensors(fsq))));
            sections.Add(("fsq_head.safetensors", Safetensors.ToBytes(ModelWeights.ToSafeTensors(trainer.FsqObjective!))));
        }
        sections.Insert(0, ("meta.json", Encoding.UTF8.GetBytes(meta.ToJsonString())));

        return CheckpointFile.Write(sections);
    }

    public static Trainer Load(byte[] checkpoint, string? device = "auto")
    {
        var sections = ReadSections(checkpoint);
        var meta = JsonNode.Parse(sections["meta.json"])!.AsObject();
        var options = TrainerOptions.FromJson(meta["options"]!.ToJsonString());
        FsqAutoencoder? fsq = null;
        if (options.Adaptive.FsqTargets)
        {
            var spec = meta["fsq"]?.AsObject() ?? throw new InvalidDataException("checkpoint of an FSQ-target run has no 'fsq' metadata");
            fsq = new FsqAutoencoder(options.Model.EmbeddingDim, spec["levels"]!.AsArray().Select(l => l!.GetValue<int>()).ToArray(), spec["hidden"]!.GetValue<int>());
            ModelWeights.Load(fsq, Section(sections, "fsq.safetensors"));
            fsq.eval();
        }
        // The scorer travels in the checkpoint (joint or pre-trained alike): build one and load its state below.
        var scorer = options.Adaptive.DecoderMasking == DecoderMasking.Adaptive
            ? new AdaptiveScorerTrainer(options.Model.EmbeddingDim, Trainer.ScorerOptionsFor(options), TorchDevice.Resolve(device)) : null;
        var trainer = new Trainer(options, device, scorer, fsq) { OwnsFsq = fsq is not null, OwnsScorer = scorer is not null };
        ModelWeights.Load(trainer.Model, sections["model.safetensors"]);
        if (trainer.FsqObjective is { } head) ModelWeights.Load(head, Section(sections, "fsq_head.safetensors"));
        if (scorer is not null)
        {
            scorer.LoadWeights(Safetensors.Read(Section(sections, "scorer.safetensors")).Tensors);
            using (var reader = new BinaryReader(new MemoryStream(Section(sections, "scorer_optimizer.bin")))) scorer.LoadOptimizer(reader);
            using var scorerRng = tensor(Section(sections, "scorer_rng.bin"), dtype: ScalarType.Byte);
            scorer.Generator.set_state(scorerRng);
        }
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

    /// <summary>The model weights inside a checkpoint, as a standalone safetensors file (<see cref="CheckpointFile.ExtractWeights"/>).</summary>
    public static byte[] ExtractWeights(byte[] checkpoint) => CheckpointFile.ExtractWeights(checkpoint);

    /// <summary>The named sections (<see cref="CheckpointFile.ReadSections"/>: sizes checked before anything is allocated).</summary>
    private static Dictionary<string, byte[]> ReadSections(byte[] checkpoint) => CheckpointFile.ReadSections(checkpoint);

    private static byte[] Section(Dictionary<string, byte[]> sections, string name) =>
        sections.TryGetValue(name, out var bytes) ? bytes : throw new InvalidDataException($"checkpoint has no '{name}' section");

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
