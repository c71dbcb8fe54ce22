using LvMae.Model.Data;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

public class RelativePositionBiasTests
{
    [Fact]
    public void Mask_holds_the_bias_of_each_clipped_distance_cls_bucket_and_minus_infinity_for_absent_keys()
    {
        using var scope = NewDisposeScope();
        using var bias = new RelativePositionBias(heads: 2, range: 2);
        using (no_grad())
            bias.parameters().Single().copy_(tensor(new float[] { -2, -1, 0, 1, 2, 9, 20, 21, 22, 23, 24, 29 }).view(2, 6) / RelativePositionBias.Gain);
        // [CLS], then segments 0, 3, 4; the last key is padding.
        var positions = tensor(new long[] { -1, 0, 3, 4 }).view(1, 4);
        var keys = tensor(new[] { true, true, true, false }).view(1, 1, 1, 4);
        var mask = bias.Mask(positions, keys);   // the parameter times Gain: the figures above
        Assert.Equal(new long[] { 1, 2, 4, 4 }, mask.shape);
        // Head 0, query segment 0 (row 1): [CLS] bucket 9; distance 0 -> 0; distance +3 clipped to +2 -> 2; absent -> -inf.
        Assert.Equal(new float[] { 9, 0, 2, float.NegativeInfinity }, mask[0, 0, 1].data<float>().ToArray());
        // Head 1, query segment 4 (row 3): distance -4 clipped to -2 -> 20; -1 -> 21.
        Assert.Equal(new float[] { 29, 20, 21, float.NegativeInfinity }, mask[0, 1, 3].data<float>().ToArray());
    }

    [Fact]
    public void An_untrained_bias_changes_nothing_and_a_trained_one_is_learned()
    {
        using var scope = NewDisposeScope();
        var dim = 16;
        var config = Synthetic.TinyConfig();
        using var plain = new LvMaeModel(config, seed: 7);
        using var relative = new LvMaeModel(config with { RelativePositionRange = 4, DecoderRelativePositions = true }, seed: 7);
        var batch = EmbeddingBatch.FromSequences([Synthetic.Video(new Random(1), 9, dim), Synthetic.Video(new Random(2), 5, dim)], dim);
        var mask = new bool[2 * 9]; mask[2] = mask[6] = mask[9 + 1] = true;
        var layout = TokenLayout.Build(batch.Tokens, batch.Lengths, mask);
        var a = plain.Forward(batch.ToTensor(), layout);
        var b = relative.Forward(batch.ToTensor(), layout);
        Assert.True(a.Loss.allclose(b.Loss, rtol: 1e-5, atol: 1e-6), "a zero bias must leave the untrained model as it was");

        b.Loss.backward();
        foreach (var name in new[] { "rel_pos.bias", "decoder_rel_pos.bias" })
        {
            var grad = relative.named_parameters().Single(p => p.name == name).parameter.grad;
            Assert.NotNull(grad);
            Assert.True(grad!.abs().sum().item<float>() > 0, $"{name} gets no gradient");
        }
    }
}
