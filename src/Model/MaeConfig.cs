using System.Text.Json;
using System.Text.Json.Serialization;

namespace LvMae.Model;

public enum ReconstructionLoss { Mse, Cosine }

/// <summary>How the model scales its L2-normalised input embeddings (and so its reconstruction targets).</summary>
public enum InputScaling
{
    /// <summary>Unit vectors, as the authors' code: O(1/sqrt(d)) per dimension, next to sin-cos positions of O(1).
    /// The default of a config that does not say (checkpoints written before the choice existed).</summary>
    Unit,
    /// <summary>Unit vectors times sqrt(d): O(1) per dimension, the scale of the positions and of LayerNorm's
    /// outputs (what the presets use; see src/Model/README.md "Input scaling").</summary>
    SqrtDim,
}

/// <summary>
/// Architecture of one LV-MAE autoencoder. Encoder width = <see cref="EmbeddingDim"/> as in the
/// reference, unless a preset sets <see cref="EncoderDim"/> (then an `input_proj` linear maps d to it).
/// </summary>
public sealed record MaeConfig
{
    public int EmbeddingDim { get; init; } = 512;
    /// <summary>Null = the embedding dim (reference behaviour, no input projection).</summary>
    public int? EncoderDim { get; init; }
    public int MaxTokens { get; init; } = 256;
    public int EncoderDepth { get; init; } = 12;
    public int EncoderHeads { get; init; } = 8;
    public int DecoderDim { get; init; } = 256;
    public int DecoderDepth { get; init; } = 4;
    public int DecoderHeads { get; init; } = 8;
    public int MlpRatio { get; init; } = 4;
    public double LayerNormEps { get; init; } = 1e-6;
    public ReconstructionLoss Loss { get; init; } = ReconstructionLoss.Mse;
    /// <summary>Unit (reference; what a config without this field means) or SqrtDim (the presets).</summary>
    public InputScaling InputScaling { get; init; } = InputScaling.Unit;
    /// <summary>Standardise the unit inputs per dimension with statistics of the training corpus, fitted during warm-up
    /// (<see cref="InputStandardiser"/>); false in the presets and the reference. Needed without the relative position bias
    /// (the loss was mostly the corpus' common direction); with it, it costs the probes points (docs/LEARNING.md, sessions 9-10).</summary>
    public bool StandardiseInputs { get; init; }
    /// <summary>Initial LayerScale of every block's branches (null = none, the reference; see <see cref="TransformerBlock"/>).</summary>
    public double? LayerScale { get; init; }
    /// <summary>Encoder attention gets a learned bias per head by segment distance clipped to this range
    /// (<see cref="RelativePositionBias"/>); null = none, the reference (what a config without this field means); 16 in the presets.</summary>
    public int? RelativePositionRange { get; init; }
    /// <summary>The encoder's attention gets the relative position bias (with <see cref="RelativePositionRange"/>); true
    /// unless a config says otherwise (false: the decoder's alone, the encoder keeps only the sin-cos positions).</summary>
    public bool EncoderRelativePositions { get; init; } = true;
    /// <summary>The decoder's attention gets its own relative position bias too (with <see cref="RelativePositionRange"/>).</summary>
    public bool DecoderRelativePositions { get; init; }
    /// <summary>Preset name this config came from (informational).</summary>
    public string Preset { get; init; } = "custom";

    [JsonIgnore] public int Width => EncoderDim ?? EmbeddingDim;
    [JsonIgnore] public bool HasInputProjection => Width != EmbeddingDim;
    /// <summary>The factor applied to the L2-normalised inputs.</summary>
    [JsonIgnore] public double InputScale => InputScaling == InputScaling.SqrtDim ? Math.Sqrt(EmbeddingDim) : 1.0;

    public void Validate()
    {
        if (EmbeddingDim <= 0 || MaxTokens <= 0) throw new ArgumentException("embedding dim and max tokens must be positive");
        if (Width <= 0 || DecoderDim <= 0 || EncoderHeads <= 0 || DecoderHeads <= 0 || MlpRatio <= 0)
            throw new ArgumentException("widths, heads and the MLP ratio must be positive");
        if (EncoderDepth < 0 || DecoderDepth < 1) throw new ArgumentException("the encoder needs >= 0 blocks and the decoder >= 1");
        if (RelativePositionRange is < 1) throw new ArgumentException("the relative position range must be at least 1 segment");
        if (!(LayerNormEps > 0) || LayerScale is <= 0) throw new ArgumentException("the LayerNorm epsilon and LayerScale must be positive");
        if (Width % EncoderHeads != 0) throw new ArgumentException($"encoder width {Width} is not divisible by {EncoderHeads} heads");
        if (DecoderDim % DecoderHeads != 0) throw new ArgumentException($"decoder width {DecoderDim} is not divisible by {DecoderHeads} heads");
        if (Width % 2 != 0 || DecoderDim % 2 != 0) throw new ArgumentException("sin-cos positions need even widths");
    }

    // ---- presets --------------------------------------------------------------------------------

    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "small", "base", "paper"];

    /// <summary>
    /// tiny: 64 wide (projected), 2 blocks, decoder 32 x 1 - seconds on 2 CPU cores.
    /// small: 128 wide (projected), 4 blocks, decoder 64 x 2.
    /// base: width d, 8 blocks, 8 heads, decoder 256 x 2.
    /// paper: width d, 32 blocks, 8 heads, decoder 512 x 8 blocks x 16 heads (the reference's
    /// mae_vit_base_custom as the paper trained it).
    /// Every preset scales its inputs by sqrt(d) and adds a relative position bias (range 16 segments) to the encoder's and the
    /// decoder's attention on top of the sin-cos positions (docs/LEARNING.md: without it 1000 steps never leave "predict the
    /// video's mean"); a config without these fields is the reference architecture.
    /// </summary>
    public static MaeConfig FromPreset(string name, int embeddingDim, int maxTokens = 256) => name.ToLowerInvariant() switch
    {
        "tiny" => new MaeConfig { Preset = "tiny", RelativePositionRange = 16, DecoderRelativePositions = true, InputScaling = InputScaling.SqrtDim, EmbeddingDim = embeddingDim, EncoderDim = 64, MaxTokens = maxTokens, EncoderDepth = 2, EncoderHeads = 4, DecoderDim = 32, DecoderDepth = 1, DecoderHeads = 2 },
        "small" => new MaeConfig { Preset = "small", RelativePositionRange = 16, DecoderRelativePositions = true, InputScaling = InputScaling.SqrtDim, EmbeddingDim = embeddingDim, EncoderDim = 128, MaxTokens = maxTokens, EncoderDepth = 4, EncoderHeads = 4, DecoderDim = 64, DecoderDepth = 2, DecoderHeads = 4 },
        "base" => new MaeConfig { Preset = "base", RelativePositionRange = 16, DecoderRelativePositions = true, InputScaling = InputScaling.SqrtDim, EmbeddingDim = embeddingDim, MaxTokens = maxTokens, EncoderDepth = 8, EncoderHeads = 8, DecoderDim = 256, DecoderDepth = 2, DecoderHeads = 8 },
        "paper" => new MaeConfig { Preset = "paper", RelativePositionRange = 16, DecoderRelativePositions = true, InputScaling = InputScaling.SqrtDim, EmbeddingDim = embeddingDim, MaxTokens = maxTokens, EncoderDepth = 32, EncoderHeads = 8, DecoderDim = 512, DecoderDepth = 8, DecoderHeads = 16 },
        _ => throw new ArgumentException($"unknown preset '{name}'; known: {string.Join(", ", PresetNames)}"),
    };

    /// <summary>Settings a run may not override: the run sets them (embedding width, sequence length) or they only name.</summary>
    private static readonly HashSet<string> FixedSettings = new(StringComparer.OrdinalIgnoreCase) { nameof(EmbeddingDim), nameof(MaxTokens), nameof(Preset) };

    /// <summary>The names <see cref="WithOverrides"/> accepts.</summary>
    public static IReadOnlyList<string> OverridableSettings { get; } = typeof(MaeConfig).GetProperties()
        .Where(p => p.CanWrite && !FixedSettings.Contains(p.Name) && p.GetCustomAttributes(typeof(JsonIgnoreAttribute), false).Length == 0)
        .Select(p => p.Name).ToList();

    /// <summary>
    /// This config with "Name=value,Name=value" applied (property names, any case; "null" clears a nullable setting), e.g.
    /// "DecoderDim=128,DecoderHeads=8,RelativePositionRange=null": how `lvmae train --model` tries an architecture that no
    /// preset names. An unknown name, a fixed one or a value of the wrong type throws, naming it; the result is validated.
    /// </summary>
    public MaeConfig WithOverrides(string? overrides)
    {
        if (string.IsNullOrWhiteSpace(overrides)) return this;
        var node = System.Text.Json.Nodes.JsonNode.Parse(ToJson())!.AsObject();
        foreach (var pair in overrides.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"model setting '{pair}' is not Name=value");
            var (key, text) = (pair[..eq].Trim(), pair[(eq + 1)..].Trim());
            var name = OverridableSettings.FirstOrDefault(n => n.Equals(key, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"unknown model setting '{key}'; known: {string.Join(", ", OverridableSettings)}");
            var type = typeof(MaeConfig).GetProperty(name)!.PropertyType;
            var underlying = Nullable.GetUnderlyingType(type);
            System.Text.Json.Nodes.JsonNode? value;
            if (text.Equals("null", StringComparison.OrdinalIgnoreCase) && underlying is not null) value = null;
            else if ((underlying ?? type).IsEnum) value = System.Text.Json.Nodes.JsonValue.Create(text);
            else
            {
                try { value = System.Text.Json.Nodes.JsonNode.Parse(text.ToLowerInvariant()); }
                catch (JsonException) { throw new ArgumentException($"model setting {name}: '{text}' is not a {(underlying ?? type).Name}"); }
            }
            node[name] = value;
        }
        MaeConfig result;
        try { result = FromJson(node.ToJsonString()); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        { throw new ArgumentException($"model settings '{overrides}': {e.Message}"); }
        result.Validate();
        return result;
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static MaeConfig FromJson(string json) => JsonSerializer.Deserialize<MaeConfig>(json, Json) ?? throw new InvalidDataException("empty MaeConfig JSON");
}
