using LvMae.Formats;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

/// <summary>The published PyTorch LV-MAE's numbers, reproduced from its own weights and mask.</summary>
public class ReferenceFixtureTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "lvmae-reference", name);

    internal static MaeConfig FixtureConfig() => new()
    {
        EmbeddingDim = 32, MaxTokens = 16, EncoderDepth = 2, EncoderHeads = 4,
        DecoderDim = 16, DecoderDepth = 1, DecoderHeads = 2,
    };

    [Fact]
    public void Model_parameter_names_and_shapes_are_the_reference_ones()
    {
        using var model = new LvMaeModel(FixtureConfig());
        var file = Safetensors.Read(Fixture("weights.safetensors")).Tensors;
        var state = model.state_dict();
        Assert.Equal(file.Keys.Order(), state.Keys.Order());
        foreach (var (name, t) in state) Assert.Equal(file[name].Shape, t.shape);
    }

    [Fact]
    public void Reproduces_reference_loss_cls_and_predictions()
    {
        using var scope = NewDisposeScope();
        using var model = new LvMaeModel(FixtureConfig());
        ModelWeights.Load(model, Fixture("weights.safetensors"));
        model.eval();

        var emb = NpyArray.Read(Fixture("embeddings.npy"));
        var lengths = NpyArray.Read(Fixture("lengths.npy")).ToLongs().Select(l => (int)l).ToArray();
        var maskValues = NpyArray.Read(Fixture("mask.npy")).ToFloats();
        var (b, n, d) = ((int)emb.Shape[0], (int)emb.Shape[1], (int)emb.Shape[2]);
        var layout = TokenLayout.Build(n, lengths, maskValues.Select(m => m > 0.5f).ToArray());

        using var _ = no_grad();
        var output = model.Forward(tensor(emb.ToFloats(), emb.Shape), layout);

        var expectedLoss = NpyArray.Read(Fixture("expected_loss.npy")).ToFloats()[0];
        Assert.InRange(output.Loss.item<float>(), expectedLoss - 1e-5f, expectedLoss + 1e-5f);

        var expectedCls = NpyArray.Read(Fixture("expected_cls.npy")).ToFloats();
        var cls = output.Latent[.., 0].contiguous().data<float>().ToArray();
        AssertClose(expectedCls, cls, 1e-4f, "cls");

        var expectedPred = NpyArray.Read(Fixture("expected_pred.npy")).ToFloats();
        var pred = output.FullPredictions().contiguous().data<float>().ToArray();
        for (var i = 0; i < b; i++)
            for (var j = 0; j < lengths[i]; j++)
                for (var k = 0; k < d; k++)
                {
                    var at = (i * n + j) * d + k;
                    Assert.True(Math.Abs(expectedPred[at] - pred[at]) <= 1e-4f, $"pred[{i},{j},{k}] = {pred[at]}, expected {expectedPred[at]}");
                }
    }

    internal static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= tolerance, $"{what}: max abs difference {worst} > {tolerance}");
    }
}
