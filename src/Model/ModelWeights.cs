using LvMae.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace LvMae.Model;

/// <summary>Weights alone, as safetensors with the reference parameter names (float32, CPU bytes).</summary>
public static class ModelWeights
{
    public const string ConfigMetadataKey = "lvmae_config";

    public static Dictionary<string, SafeTensor> ToSafeTensors(nn.Module model)
    {
        var result = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in model.state_dict())
            result[name] = ToSafeTensor(tensor);
        return result;
    }

    public static SafeTensor ToSafeTensor(Tensor tensor)
    {
        using var cpu = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
        return SafeTensor.FromFloats(cpu.data<float>().ToArray(), cpu.shape);
    }

    /// <summary>Copies every named tensor into the module in place. Strict: names and shapes must
    /// match exactly (a missing or extra name is an error), so a mismatch never loads silently.</summary>
    public static void Load(nn.Module model, IReadOnlyDictionary<string, SafeTensor> tensors)
    {
        var state = model.state_dict();
        var missing = state.Keys.Except(tensors.Keys).ToList();
        var extra = tensors.Keys.Except(state.Keys).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            throw new InvalidDataException($"weights do not match the model: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
        using var _ = no_grad();
        foreach (var (name, target) in state)
        {
            var source = tensors[name];
            if (!source.Shape.SequenceEqual(target.shape))
                throw new InvalidDataException($"'{name}' has shape [{string.Join(", ", source.Shape)}] in the file, [{string.Join(", ", target.shape)}] in the model");
            using var value = tensor(source.ToFloats(), source.Shape, dtype: target.dtype, device: target.device);
            target.copy_(value);
        }
    }

    public static byte[] ToBytes(LvMaeModel model) =>
        Safetensors.ToBytes(ToSafeTensors(model), new Dictionary<string, string> { [ConfigMetadataKey] = model.Config.ToJson() });

    public static void Save(LvMaeModel model, string path) => File.WriteAllBytes(path, ToBytes(model));

    /// <summary>Loads weights into an existing model (e.g. the reference fixture's file).</summary>
    public static void Load(nn.Module model, string path) => Load(model, Safetensors.Read(path).Tensors);
    public static void Load(nn.Module model, byte[] bytes) => Load(model, Safetensors.Read(bytes).Tensors);

    /// <summary>Builds a model from a file this library wrote (its config travels in the metadata).</summary>
    public static LvMaeModel LoadModel(byte[] bytes, Device? device = null)
    {
        var contents = Safetensors.Read(bytes);
        if (!contents.Metadata.TryGetValue(ConfigMetadataKey, out var json))
            throw new InvalidDataException($"safetensors has no '{ConfigMetadataKey}' metadata; build the model from its config and call Load");
        var model = new LvMaeModel(MaeConfig.FromJson(json));
        if (device is not null) model.to(device);
        Load(model, contents.Tensors);
        return model;
    }
}
