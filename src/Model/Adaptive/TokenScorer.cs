using LvMae.Model.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model.Adaptive;

/// <summary>
/// Token importance scorer (LVMAE's CNN scorer, here 1-D over the segment sequence): a per-token
/// projection of the embedding and of its cosine similarity to the previous and next segment (the
/// explicit "does this follow from its neighbours" cue; 1 where there is no neighbour), two width-3
/// convolutions over time (receptive field 5 segments), a linear head to one score per token.
/// PAD is excluded: its features are zeroed before every convolution, so a PAD neighbour looks
/// exactly like the sequence edge and padding never changes a valid token's score; PAD scores are 0
/// (selection code masks them out anyway).
/// </summary>
public sealed class TokenScorer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear proj;
    private readonly Conv1d conv1;
    private readonly Conv1d conv2;
    private readonly Linear head;

    public TokenScorer(int embeddingDim, int hidden = 64, long seed = 0) : base(nameof(TokenScorer))
    {
        proj = nn.Linear(embeddingDim + 2, hidden);
        conv1 = nn.Conv1d(hidden, hidden, 3, padding: 1);
        conv2 = nn.Conv1d(hidden, hidden, 3, padding: 1);
        head = nn.Linear(hidden, 1);
        RegisterComponents();
        SeededInit.Linears(this, seed);
    }

    /// <param name="x">[B, N, d] normalised embeddings.</param>
    /// <param name="valid">[B, N] bool.</param>
    /// <returns>[B, N] scores (0 at PAD).</returns>
    public override Tensor forward(Tensor x, Tensor valid)
    {
        using var scope = NewDisposeScope();
        var keep = valid.unsqueeze(-1).to(x.dtype);
        var h = proj.forward(cat([x, NeighbourSimilarity(x, valid)], -1)) * keep;
        h = h + nn.functional.gelu(conv1.forward(h.transpose(1, 2)).transpose(1, 2)) * keep;
        h = h + nn.functional.gelu(conv2.forward(h.transpose(1, 2)).transpose(1, 2)) * keep;
        return (head.forward(h).squeeze(-1) * keep.squeeze(-1)).MoveToOuterDisposeScope();
    }

    /// <summary>[B, N, 2]: cosine similarity of each (unit) embedding to its predecessor and successor,
    /// 1 at the edges and next to PAD.</summary>
    public static Tensor NeighbourSimilarity(Tensor x, Tensor valid)
    {
        var n = x.shape[1];
        var next = (x.narrow(1, 0, n - 1) * x.narrow(1, 1, n - 1)).sum([-1L]);          // [B, N - 1]: (j, j + 1)
        var pairValid = valid.narrow(1, 1, n - 1);
        next = next.masked_fill(pairValid.logical_not(), 1);
        var one = ones(x.shape[0], 1, dtype: x.dtype, device: x.device);
        return stack([cat([one, next], 1), cat([next, one], 1)], -1);
    }

    /// <summary>Scores as a [B * N] array for a padded batch (no gradient).</summary>
    public float[] Score(Tensor normalised, Tensor valid)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return forward(normalised, valid).cpu().data<float>().ToArray();
    }
}
