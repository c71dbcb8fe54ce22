using LvMae.Model.Data;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

public class ModelInvariantTests
{
    [Fact]
    public void Sdpa_boolean_mask_true_means_attend_and_pad_rows_give_no_nan()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        var q = randn(1, 1, 3, 4);
        var k = randn(1, 1, 3, 4);
        var v = randn(1, 1, 3, 4);
        var keyMask = tensor(new[] { true, true, false }).view(1, 1, 1, 3);
        var masked = nn.functional.scaled_dot_product_attention(q, k, v, keyMask);
        // Same as attending over the first two keys only.
        var reference = nn.functional.scaled_dot_product_attention(q, k[.., .., ..2], v[.., .., ..2]);
        Assert.True(masked.allclose(reference, rtol: 1e-5, atol: 1e-6));
        Assert.False(masked.isnan().any().item<bool>());
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0.1)]
    public void Block_rows_computed_alone_equal_the_whole_blocks_rows_and_their_gradients(double? layerScale)
    {
        // The attentive probe reads only its query row (TransformerBlock.ForwardFirst): that must be the same function,
        // values and parameter gradients, as the whole block's first row, padding keys masked out.
        using var scope = NewDisposeScope();
        manual_seed(7);
        using var block = new LvMae.Model.TransformerBlock(16, 4, layerScale: layerScale);
        var x = randn(3, 9, 16);
        var keyMask = tensor(new[] { true, true, true, true, true, true, true, false, false }).view(1, 1, 1, 9).expand(3, 1, 1, 9);

        var whole = block.forward(x, keyMask).narrow(1, 0, 2);
        whole.square().sum().backward();
        var wholeGrads = block.parameters().Select(p => p.grad!.clone()).ToArray();
        foreach (var p in block.parameters()) p.grad!.zero_();

        var rows = block.ForwardFirst(x, keyMask, rows: 2);
        rows.square().sum().backward();
        var rowGrads = block.parameters().Select(p => p.grad!).ToArray();

        Assert.Equal(whole.shape, rows.shape);
        Assert.True(rows.allclose(whole, rtol: 1e-5, atol: 1e-6));
        Assert.All(wholeGrads.Zip(rowGrads), g => Assert.True(g.Second.allclose(g.First, rtol: 1e-4, atol: 1e-6)));
        Assert.Contains(wholeGrads, g => g.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Encoder_outputs_do_not_depend_on_padding_or_batchmates()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var model = new LvMaeModel(Synthetic.TinyConfig());
        model.eval();
        using var _ = no_grad();
        var dim = 16;
        var rng = new Random(5);
        var video = Synthetic.Video(rng, 7, dim);
        var alone = EmbeddingBatch.FromSequences([video], dim);
        var crowd = EmbeddingBatch.FromSequences([Synthetic.Video(rng, 20, dim), video, Synthetic.Video(rng, 3, dim)], dim);
        // Same mask for the video in both batches: positions 1, 4 masked.
        var maskAlone = new bool[7]; maskAlone[1] = maskAlone[4] = true;
        var maskCrowd = new bool[3 * 20];
        maskCrowd[20 + 1] = maskCrowd[20 + 4] = true;
        maskCrowd[0] = maskCrowd[40] = true;

        var a = model.Forward(alone.ToTensor(), TokenLayout.Build(alone.Tokens, alone.Lengths, maskAlone));
        var c = model.Forward(crowd.ToTensor(), TokenLayout.Build(crowd.Tokens, crowd.Lengths, maskCrowd));
        var visible = 1 + 5; // [CLS] + 5 visible tokens
        Assert.True(a.Latent[0, ..visible].allclose(c.Latent[1, ..visible], rtol: 1e-4, atol: 1e-5), "encoder outputs changed with padding");
        Assert.True(a.FullPredictions()[0, ..7].allclose(c.FullPredictions()[1, ..7], rtol: 1e-4, atol: 1e-5), "decoder outputs changed with padding");

        // Unmasked encoding (the product path) too.
        var la = model.EncodeAll(alone.ToTensor(), alone.Lengths);
        var lc = model.EncodeAll(crowd.ToTensor(), crowd.Lengths);
        Assert.True(la[0, ..8].allclose(lc[1, ..8], rtol: 1e-4, atol: 1e-5));
        Assert.False(lc.isnan().any().item<bool>());
    }

    [Fact]
    public void Loss_covers_only_masked_tokens()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var model = new LvMaeModel(Synthetic.TinyConfig());
        model.eval();
        using var _ = no_grad();
        var batch = Synthetic.Batch(9, 16, 10, 6);
        var mask = new bool[2 * 10];
        mask[2] = mask[7] = mask[10 + 3] = true;
        var layout = TokenLayout.Build(batch.Tokens, batch.Lengths, mask);
        var baseLoss = model.Forward(batch.ToTensor(), layout).Loss.item<float>();

        // The loss equals the mean of the per-token MSE over exactly the 3 masked tokens.
        var full = model.Forward(batch.ToTensor(), layout);
        var x = LvMaeModel.Normalise(batch.ToTensor());
        var pred = full.FullPredictions();
        var perToken = (pred - x).square().mean([-1L]);
        var manual = (perToken[0, 2] + perToken[0, 7] + perToken[1, 3]) / 3;
        Assert.Equal(manual.item<float>(), baseLoss, 5);

        // Visible tokens influence the loss only as inputs: the target rows are the masked ones.
        Assert.Equal(3, full.TargetValid.sum().item<long>());
        var targetPositions = layout.TargetPositions.Where((_, i) => layout.TargetValid[i]).ToArray();
        Assert.Equal(new long[] { 2, 7, 3 }, targetPositions);

        // Padding content never matters: scribble over padding rows of sample 1.
        var scribbled = (float[])batch.Data.Clone();
        for (var j = 6; j < 10; j++) for (var k = 0; k < 16; k++) scribbled[(10 + j) * 16 + k] = 99f;
        var again = model.Forward(new EmbeddingBatch(scribbled, batch.Lengths, 10, 16).ToTensor(), layout).Loss.item<float>();
        Assert.Equal(baseLoss, again, 5);
    }

    [Fact]
    public void Changing_a_visible_tokens_target_leaves_the_loss_unchanged()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var model = new LvMaeModel(Synthetic.TinyConfig());
        model.eval();
        using var _ = no_grad();
        var batch = Synthetic.Batch(9, 16, 10);
        var mask = new bool[10]; mask[2] = mask[7] = true;
        var layout = TokenLayout.Build(10, batch.Lengths, mask);
        var input = batch.ToTensor();
        var baseLoss = model.Forward(input, layout).Loss.item<float>();

        var targets = LvMaeModel.Normalise(input).clone();
        Assert.Equal(baseLoss, model.Forward(input, layout, targets).Loss.item<float>());   // default target = normalised input
        targets[0, 4] = ones(16) * 5;                                                       // a visible position
        Assert.Equal(baseLoss, model.Forward(input, layout, targets).Loss.item<float>());
        targets[0, 7] = ones(16) * 5;                                                       // a masked position
        Assert.NotEqual(baseLoss, model.Forward(input, layout, targets).Loss.item<float>());
    }

    [Fact]
    public void Safetensors_round_trip_keeps_every_weight()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        using var model = new LvMaeModel(Synthetic.TinyConfig() with { EncoderDim = 32 });
        var bytes = ModelWeights.ToBytes(model);
        using var copy = ModelWeights.LoadModel(bytes);
        Assert.Equal(model.Config, copy.Config);
        var a = model.state_dict();
        var b = copy.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, t) in a) Assert.True(t.eq(b[name]).all().item<bool>(), name);
        Assert.Contains("input_proj.weight", a.Keys);
        Assert.Equal(bytes, ModelWeights.ToBytes(copy));
    }

    [Fact]
    public void Decoder_can_reconstruct_a_chosen_subset_of_masked_tokens()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        using var model = new LvMaeModel(Synthetic.TinyConfig());
        using var _ = no_grad();
        var batch = Synthetic.Batch(2, 16, 10);
        var mask = new bool[10]; mask[1] = mask[5] = mask[8] = true;
        var layout = TokenLayout.Build(10, batch.Lengths, mask, [[5]]);
        var output = model.Forward(batch.ToTensor(), layout);
        Assert.Equal(1, output.TargetValid.sum().item<long>());
        Assert.Equal(7, layout.Visible);   // masked-but-not-selected tokens are neither visible nor decoded
        Assert.Throws<ArgumentException>(() => TokenLayout.Build(10, batch.Lengths, mask, [[0]]));
    }
}
