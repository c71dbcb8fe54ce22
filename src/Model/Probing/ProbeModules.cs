using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model.Probing;

/// <summary>A probe head over a padded batch of frozen token features [B, N, D] (+ optional [CLS] [B, D]).</summary>
public abstract class ProbeHead : nn.Module
{
    protected ProbeHead(string name) : base(name) { }
    /// <param name="valid">[B, N] bool, true = a real token.</param>
    public abstract Tensor Forward(Tensor tokens, Tensor valid, Tensor? cls);

    /// <summary>Mean over the valid tokens only.</summary>
    public static Tensor MeanPool(Tensor tokens, Tensor valid)
    {
        var w = valid.to(tokens.dtype).unsqueeze(-1);
        return (tokens * w).sum(1) / w.sum(1).clamp_min(1);
    }
}

/// <summary>Linear probe (paper Table 6) and regression probe: global average pool -> linear.</summary>
public sealed class PooledLinearProbe : ProbeHead
{
    private readonly Linear head;

    public PooledLinearProbe(int dim, int outputs) : base(nameof(PooledLinearProbe))
    {
        head = nn.Linear(dim, outputs);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor tokens, Tensor valid, Tensor? cls) => head.forward(MeanPool(tokens, valid));
}

/// <summary>
/// Attentive probe (paper Table 7): one extra pre-norm transformer block (MHSA + MLP + LayerNorm) over a learned query
/// token + the frozen tokens, then the query's output -> LayerNorm -> linear. The encoder's [CLS] output, when given, is
/// one more token the query can attend to, never the query itself: an MAE's [CLS] gets no loss of its own and is nearly the
/// same vector for every video, so as the query (standardised per dimension) it pointed the probe's attention at random
/// (issue 24: 42% vs 94.5% on the recipe benchmark for the same untrained encoder). Optional fixed sin-cos positions
/// (raw-embedding baseline with order information; the paper's baseline has none).
/// </summary>
public sealed class AttentiveProbe : ProbeHead
{
    private readonly Parameter query_token;
    private readonly TransformerBlock block;
    private readonly LayerNorm norm;
    private readonly Linear head;
    private readonly bool addPositions;
    private readonly int dim;

    public AttentiveProbe(int dim, int outputs, int heads, bool addPositions) : base(nameof(AttentiveProbe))
    {
        this.dim = dim;
        this.addPositions = addPositions;
        query_token = nn.Parameter(randn(1, 1, dim) * 0.02);
        block = new TransformerBlock(dim, heads);
        norm = nn.LayerNorm(dim, 1e-6);
        head = nn.Linear(dim, outputs);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor tokens, Tensor valid, Tensor? cls)
    {
        var b = tokens.shape[0];
        if (addPositions)
            tokens = tokens + PositionalEncoding.Table((int)tokens.shape[1], dim, clsRow: false).to(tokens.device);
        var always = ones(b, 1, dtype: ScalarType.Bool, device: valid.device);
        Tensor[] parts = cls is null ? [query_token.expand(b, -1, -1), tokens] : [query_token.expand(b, -1, -1), cls.unsqueeze(1), tokens];
        Tensor[] masks = cls is null ? [always, valid] : [always, always, valid];
        // Only the query's output is read, so only its row is computed (ForwardFirst: the same numbers as the whole block's
        // row 0, about 6x less work on a 130-token video than scoring every token against every other).
        var h = block.ForwardFirst(cat(parts, 1), cat(masks, 1).unsqueeze(1).unsqueeze(1));
        return head.forward(norm.forward(h[.., 0]));
    }
}
