using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using LvMae.Formats;
using LvMae.Model.Training;

namespace LvMae.Model.Tests;

/// <summary>`lvmae export --weights`: a checkpoint's weights as a safetensors file PyTorch loads into the reference model.</summary>
public class WeightsExportTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "lvmae-reference", name);

    [Fact]
    public void Exported_weights_use_the_reference_names_are_valid_safetensors_and_round_trip()
    {
        // The tiny preset at d = 64 has the fixture's structure (2 encoder blocks, 1 decoder block, no input projection);
        // standardised (--model StandardiseInputs=true), so every extra tensor a checkpoint can hold is exported.
        using var trainer = new Trainer(new TrainerOptions { Model = MaeConfig.FromPreset("tiny", 64, 16) with { StandardiseInputs = true }, TotalSteps = 3, WarmupSteps = 1 }, "cpu");
        for (var i = 0; i < 3; i++) trainer.Step(Synthetic.Batch(i, 64, 16, 9));
        var bytes = Checkpoint.ExtractWeights(trainer.SaveCheckpoint());

        // The reference's names, plus the input standardisation (load into the reference with strict=False and
        // apply (x - input_norm.mean) / input_norm.std to its unit inputs) and relative position biases (added to the
        // attention scores, times RelativePositionBias.Gain).
        var reference = Safetensors.Read(Fixture("weights.safetensors")).Tensors.Keys
            .Concat(["input_norm.count", "input_norm.mean", "input_norm.std", "rel_pos.bias", "decoder_rel_pos.bias"]).Order(StringComparer.Ordinal);
        var file = Safetensors.Read(bytes);
        Assert.Equal(reference, file.Tensors.Keys.Order(StringComparer.Ordinal));

        // What safetensors.torch.load_file needs: an 8-byte little-endian header length, a JSON header of
        // {name: {dtype, shape, data_offsets}} (+ __metadata__ of strings), and offsets that tile the data exactly.
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, headerLength));
        var spans = new List<(long Begin, long End)>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                Assert.All(entry.Value.EnumerateObject(), m => Assert.Equal(JsonValueKind.String, m.Value.ValueKind));
                continue;
            }
            Assert.Equal("F32", entry.Value.GetProperty("dtype").GetString());
            var elements = entry.Value.GetProperty("shape").EnumerateArray().Aggregate(1L, (a, d) => a * d.GetInt64());
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray();
            Assert.Equal(4 * elements, offsets[1] - offsets[0]);
            spans.Add((offsets[0], offsets[1]));
        }
        spans.Sort();
        Assert.Equal(0, spans[0].Begin);
        for (var i = 1; i < spans.Count; i++) Assert.Equal(spans[i - 1].End, spans[i].Begin);
        Assert.Equal(bytes.Length - 8 - headerLength, spans[^1].End);

        // Round trip: the file builds the same model (config and input scaling from its metadata) with the same tensors.
        using var loaded = ModelWeights.LoadModel(bytes);
        Assert.Equal(InputScaling.SqrtDim, loaded.Config.InputScaling);
        var expected = trainer.Model.state_dict();
        foreach (var (name, tensor) in loaded.state_dict())
            Assert.True(tensor.allclose(expected[name], rtol: 0, atol: 0), name);
    }

    [Fact]
    public void A_checkpoint_written_before_input_scaling_existed_loads_with_unit_inputs()
    {
        // Its options JSON has no InputScaling (and AbsoluteLr null: the paper's lr rule): the model it rebuilds is the one it trained.
        var options = new TrainerOptions { Model = Synthetic.TinyConfig(16, 32), AbsoluteLr = null, TotalSteps = 10 };
        var json = options.ToJson().Replace("\"InputScaling\": \"Unit\",", "", StringComparison.Ordinal);
        Assert.DoesNotContain("InputScaling", json);
        var old = TrainerOptions.FromJson(json);
        Assert.Equal(InputScaling.Unit, old.Model.InputScaling);
        Assert.Equal(1.5e-4 * 16 / 256, old.PeakLr, 12);
        Assert.Equal(InputScaling.SqrtDim, MaeConfig.FromPreset("small", 32).InputScaling);
    }

    [Fact]
    public void Presets_scale_normalised_inputs_by_sqrt_d_and_the_reference_config_does_not()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var x = Synthetic.Batch(1, 16, 5).ToTensor();
        using var scaled = new LvMaeModel(MaeConfig.FromPreset("tiny", 16, 8), seed: 1);
        using var unit = new LvMaeModel(Synthetic.TinyConfig(16, 8), seed: 1);
        var norms = scaled.PrepareInput(x).norm(-1).data<float>().ToArray();
        Assert.All(norms, n => Assert.Equal(4f, n, 4));     // sqrt(16)
        Assert.All(unit.PrepareInput(x).norm(-1).data<float>().ToArray(), n => Assert.Equal(1f, n, 4));
    }
}
