using System.Text.Json;
using LvMae.Formats;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

/// <summary>
/// The published PyTorch LV-MAE's numbers, reproduced from its own weights and mask. Every directory
/// Fixtures/lvmae-reference* is one fixture made by the authors' code; the model sizes come from its
/// config.json, so another fixture is tested by dropping its directory in.
/// </summary>
public class ReferenceFixtureTests
{
    public static TheoryData<string> Fixtures() => new(ReferenceFixture.Names());

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Model_parameter_names_and_shapes_are_the_reference_ones(string fixture)
    {
        var reference = ReferenceFixture.Load(fixture);
        using var model = new LvMaeModel(reference.Config);
        var file = Safetensors.Read(reference.File("weights.safetensors")).Tensors;
        var state = model.state_dict();
        Assert.Equal(file.Keys.Order(), state.Keys.Order());
        foreach (var (name, t) in state) Assert.Equal(file[name].Shape, t.shape);
        // config.json lists the reference's parameter shapes too: the model built from its sizes must match them.
        Assert.Equal(reference.ParameterShapes.Keys.Order(), state.Keys.Order());
        foreach (var (name, t) in state) Assert.Equal(reference.ParameterShapes[name], t.shape);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Reproduces_reference_loss_cls_and_predictions(string fixture)
    {
        var reference = ReferenceFixture.Load(fixture);
        using var scope = NewDisposeScope();
        using var model = new LvMaeModel(reference.Config);
        ModelWeights.Load(model, reference.File("weights.safetensors"));
        model.eval();

        var emb = NpyArray.Read(reference.File("embeddings.npy"));
        var lengths = NpyArray.Read(reference.File("lengths.npy")).ToLongs().Select(l => (int)l).ToArray();
        var maskValues = NpyArray.Read(reference.File("mask.npy")).ToFloats();
        var (b, n, d) = ((int)emb.Shape[0], (int)emb.Shape[1], (int)emb.Shape[2]);
        Assert.Equal(reference.Config.EmbeddingDim, d);
        var layout = TokenLayout.Build(n, lengths, maskValues.Select(m => m > 0.5f).ToArray());

        using var _ = no_grad();
        var output = model.Forward(tensor(emb.ToFloats(), emb.Shape), layout);

        var expectedLoss = NpyArray.Read(reference.File("expected_loss.npy")).ToFloats()[0];
        Assert.InRange(output.Loss.item<float>(), expectedLoss - 1e-5f, expectedLoss + 1e-5f);

        var expectedCls = NpyArray.Read(reference.File("expected_cls.npy")).ToFloats();
        var cls = output.Latent[.., 0].contiguous().data<float>().ToArray();
        AssertClose(expectedCls, cls, 1e-4f, "cls");

        var expectedPred = NpyArray.Read(reference.File("expected_pred.npy")).ToFloats();
        var pred = output.FullPredictions().contiguous().data<float>().ToArray();
        for (var i = 0; i < b; i++)
            for (var j = 0; j < lengths[i]; j++)
                for (var k = 0; k < d; k++)
                {
                    var at = (i * n + j) * d + k;
                    Assert.True(Math.Abs(expectedPred[at] - pred[at]) <= 1e-4f, $"pred[{i},{j},{k}] = {pred[at]}, expected {expectedPred[at]}");
                }
    }

    [Fact]
    public void A_fixture_config_the_model_cannot_express_is_refused_by_name()
    {
        var dir = Directory.CreateTempSubdirectory("lvmae-fixture");
        try
        {
            var config = File.ReadAllText(ReferenceFixture.Load(ReferenceFixture.Names()[0]).File("config.json"))
                .Replace("\"qkv_bias\": true", "\"qkv_bias\": false", StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), config);
            var error = Assert.Throws<InvalidDataException>(() => ReferenceFixture.FromDirectory(dir.FullName));
            Assert.Contains("qkv_bias", error.Message);
            Assert.Contains(dir.FullName, error.Message);
        }
        finally { dir.Delete(recursive: true); }
    }

    internal static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= tolerance, $"{what}: max abs difference {worst} > {tolerance}");
    }
}

/// <summary>
/// One reference fixture directory: its model sizes read from config.json (the keys the authors' fixture
/// script writes), and its files. Options the model does not implement are refused, not ignored.
/// </summary>
internal sealed record ReferenceFixture(string Directory, MaeConfig Config, IReadOnlyDictionary<string, long[]> ParameterShapes)
{
    public string File(string name) => Path.Combine(Directory, name);

    private static readonly string Root = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <summary>Fixture directory names (lvmae-reference*, with a config.json), in a stable order.</summary>
    public static IReadOnlyList<string> Names()
    {
        var names = System.IO.Directory.GetDirectories(Root, "lvmae-reference*")
            .Where(dir => System.IO.File.Exists(Path.Combine(dir, "config.json")))
            .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        return names.Count > 0 ? names : throw new InvalidOperationException($"no reference fixture (lvmae-reference*/config.json) under {Root}");
    }

    public static ReferenceFixture Load(string name) => FromDirectory(Path.Combine(Root, name));

    public static ReferenceFixture FromDirectory(string directory)
    {
        var path = Path.Combine(directory, "config.json");
        using var json = JsonDocument.Parse(System.IO.File.ReadAllText(path));
        var root = json.RootElement;
        InvalidDataException Refuse(string problem) => new($"{path}: {problem}");
        JsonElement Get(string key) => root.TryGetProperty(key, out var value) ? value : throw Refuse($"'{key}' is missing");
        int Int(string key) => Get(key).TryGetInt32(out var value) && value > 0 ? value : throw Refuse($"'{key}' is not a positive integer");

        if (root.TryGetProperty("qkv_bias", out var bias) && bias.ValueKind != JsonValueKind.True)
            throw Refuse("qkv_bias must be true (the model's attention has a qkv bias, as the reference's)");
        if (root.TryGetProperty("activation", out var activation) && !(activation.GetString() ?? "").StartsWith("gelu (exact)", StringComparison.Ordinal))
            throw Refuse($"activation '{activation.GetString()}' is not the exact GELU the model uses");

        var config = new MaeConfig
        {
            EmbeddingDim = Int("embedding_dim"),
            MaxTokens = Int("max_tokens"),
            EncoderDepth = Int("encoder_depth"),
            EncoderHeads = Int("encoder_heads"),
            DecoderDim = Int("decoder_dim"),
            DecoderDepth = Int("decoder_depth"),
            DecoderHeads = Int("decoder_heads"),
            MlpRatio = Int("mlp_ratio"),
            LayerNormEps = Get("layer_norm_eps").GetDouble(),
        };
        var shapes = Get("parameters").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(x => x.GetInt64()).ToArray(), StringComparer.Ordinal);
        return new ReferenceFixture(directory, config, shapes);
    }
}
