namespace LvMae.Grains;

/// <summary>
/// Encoder specs as users give them (builtin | resnet18 | model:&lt;file.onnx&gt;), checked where they run: a model file
/// must lie inside the silo's <see cref="ProcessingOptions.ModelDirectory"/>, so a registration cannot make a silo load
/// an arbitrary file (an ONNX model runs code paths of the runtime on whatever bytes it is given).
/// </summary>
public static class EncoderSpecs
{
    public const string ModelPrefix = "model:";

    /// <summary>The spec the media library gets: model paths made absolute inside the model folder. Throws <see cref="ArgumentException"/> naming the problem.</summary>
    public static string Resolve(string spec, ProcessingOptions options)
    {
        if (!spec.StartsWith(ModelPrefix, StringComparison.OrdinalIgnoreCase)) return spec;
        var name = spec[ModelPrefix.Length..];
        if (string.IsNullOrWhiteSpace(options.ModelDirectory))
            throw new ArgumentException($"encoder '{spec}': model files are off on this cluster; set LvMae:Processing:ModelDirectory (LVMAE__Processing__ModelDirectory) on every silo and put the .onnx file there");
        var folder = Path.GetFullPath(options.ModelDirectory);
        if (Path.IsPathRooted(name) && !Path.GetFullPath(name).StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"encoder '{spec}': model files are read from {folder} only; name the file relative to it (model:clip.onnx)");
        var full = Path.GetFullPath(Path.Combine(folder, name));
        if (!full.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"encoder '{spec}': '{name}' leads outside the model folder {folder}");
        if (!File.Exists(full))
            throw new ArgumentException($"encoder '{spec}': no model file {full} on this silo (every silo needs it in its LvMae:Processing:ModelDirectory)");
        return ModelPrefix + full;
    }
}
