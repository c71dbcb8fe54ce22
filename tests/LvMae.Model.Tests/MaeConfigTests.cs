namespace LvMae.Model.Tests;

public class MaeConfigTests
{
    [Fact]
    public void Overrides_set_named_settings_of_any_type_and_leave_the_rest_as_the_preset()
    {
        var small = MaeConfig.FromPreset("small", 256);
        Assert.Same(small, small.WithOverrides(null));
        Assert.Same(small, small.WithOverrides("  "));
        var custom = small.WithOverrides("EncoderHeads=8, layerscale=0.1,InputScaling=unit,DecoderRelativePositions=FALSE,RelativePositionRange=null");
        Assert.Equal(small with
        {
            EncoderHeads = 8, LayerScale = 0.1, InputScaling = InputScaling.Unit, DecoderRelativePositions = false, RelativePositionRange = null,
        }, custom);
        Assert.DoesNotContain("EmbeddingDim", MaeConfig.OverridableSettings);
        Assert.DoesNotContain("Width", MaeConfig.OverridableSettings);   // computed
        Assert.Contains("DecoderDim", MaeConfig.OverridableSettings);
    }

    [Theory]
    [InlineData("MaxTokens=10", "unknown model setting 'MaxTokens'")]
    [InlineData("DecoderDim=null", "model settings 'DecoderDim=null'")]       // not nullable
    [InlineData("DecoderDim=64.5", "model settings 'DecoderDim=64.5'")]
    [InlineData("EncoderHeads=0", "heads")]
    [InlineData("RelativePositionRange=0", "relative position range")]
    [InlineData("=3", "'=3' is not Name=value")]
    public void Bad_overrides_are_refused_naming_the_setting(string overrides, string message) =>
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => MaeConfig.FromPreset("small", 256).WithOverrides(overrides)).Message);

    [Fact]
    public void The_relative_position_bias_can_be_the_decoders_alone()
    {
        var tiny = MaeConfig.FromPreset("tiny", 16);
        static string[] Biases(MaeConfig c)
        {
            using var model = new LvMaeModel(c, seed: 1);
            return model.named_parameters().Select(p => p.name).Where(n => n.Contains("rel_pos", StringComparison.Ordinal)).Select(n => n.Split('.')[0]).Distinct().Order().ToArray();
        }
        Assert.Equal(["decoder_rel_pos", "rel_pos"], Biases(tiny));
        Assert.Equal(["decoder_rel_pos"], Biases(tiny.WithOverrides("EncoderRelativePositions=false")));
        Assert.Equal(["rel_pos"], Biases(tiny.WithOverrides("DecoderRelativePositions=false")));
        Assert.True(MaeConfig.FromJson("{}").EncoderRelativePositions);   // a config written before the setting kept its encoder bias
    }
}
