using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model;

/// <summary>Multi-head self-attention (timm's Attention: one qkv linear with bias, then proj) on
/// scaled_dot_product_attention. <c>keyMask</c> is boolean [B, 1, 1, S], true = this key may be
/// attended to. Only keys are masked, so every query row (PAD rows too) sees at least [CLS] and no
/// row is ever all -inf: no NaN. PAD rows' outputs are garbage that callers ignore.</summary>
public sealed class SelfAttention : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly int heads;

    public SelfAttention(int dim, int heads) : base(nameof(SelfAttention))
    {
        this.heads = heads;
        qkv = nn.Linear(dim, dim * 3, hasBias: true);
        proj = nn.Linear(dim, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? keyMask)
    {
        using var scope = NewDisposeScope();
        var (b, s, c) = (x.shape[0], x.shape[1], x.shape[2]);
        var parts = qkv.forward(x).reshape(b, s, 3, heads, c / heads).permute(2, 0, 3, 1, 4); // 3, B, H, S, hd
        var attended = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], keyMask);
        return proj.forward(attended.transpose(1, 2).reshape(b, s, c)).MoveToOuterDisposeScope();
    }

    /// <summary>The outputs of the first <paramref name="rows"/> query rows only; every row is still a key and a value.
    /// The same numbers as <c>forward(x, keyMask)[:, :rows]</c> without the N x N scores and the projections of rows
    /// nobody reads (a probe reads only its query token's output).</summary>
    public Tensor ForwardFirst(Tensor x, int rows, Tensor? keyMask)
    {
        using var scope = NewDisposeScope();
        var (b, s, c) = (x.shape[0], x.shape[1], x.shape[2]);
        var (weight, bias) = (qkv.weight!, qkv.bias!);   // rows [q; k; v] of the one qkv linear
        var q = nn.functional.linear(x.narrow(1, 0, rows), weight.narrow(0, 0, c), bias.narrow(0, 0, c))
            .reshape(b, rows, heads, c / heads).transpose(1, 2);                                   // B, H, rows, hd
        var kv = nn.functional.linear(x, weight.narrow(0, c, 2 * c), bias.narrow(0, c, 2 * c))
            .reshape(b, s, 2, heads, c / heads).permute(2, 0, 3, 1, 4);                             // 2, B, H, S, hd
        var attended = nn.functional.scaled_dot_product_attention(q, kv[0], kv[1], keyMask);
        return proj.forward(attended.transpose(1, 2).reshape(b, rows, c)).MoveToOuterDisposeScope();
    }
}

/// <summary>fc1 -> exact GELU -> fc2 (timm's Mlp, no dropout).</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;

    public Mlp(int dim, int hidden) : base(nameof(Mlp))
    {
        fc1 = nn.Linear(dim, hidden);
        fc2 = nn.Linear(hidden, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var hidden = fc1.forward(x);
        using var activated = nn.functional.gelu(hidden);
        return fc2.forward(activated);
    }
}

/// <summary>Pre-norm ViT block: x + attn(norm1(x)), then x + mlp(norm2(x)). Field names are the
/// reference state-dict names (norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2). With a layer scale (timm's
/// LayerScale, DeiT III / CaiT: ls1.gamma, ls2.gamma) each branch is multiplied by a learned per-channel factor that starts
/// small, so an untrained block is close to the identity and keeps its input's information linearly readable.</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly SelfAttention attn;
    private readonly LayerNorm norm2;
    private readonly Mlp mlp;
    private readonly LayerScale? ls1;
    private readonly LayerScale? ls2;

    /// <param name="layerScale">Initial branch scale; null = none (the reference block).</param>
    public TransformerBlock(int dim, int heads, int mlpRatio = 4, double eps = 1e-6, double? layerScale = null) : base(nameof(TransformerBlock))
    {
        norm1 = nn.LayerNorm(dim, eps);
        attn = new SelfAttention(dim, heads);
        norm2 = nn.LayerNorm(dim, eps);
        mlp = new Mlp(dim, dim * mlpRatio);
        if (layerScale is { } init) (ls1, ls2) = (new LayerScale(dim, init), new LayerScale(dim, init));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? keyMask)
    {
        using var scope = NewDisposeScope();
        var a = attn.forward(norm1.forward(x), keyMask);
        var h = x + (ls1 is null ? a : ls1.forward(a));
        var m = mlp.forward(norm2.forward(h));
        return (h + (ls2 is null ? m : ls2.forward(m))).MoveToOuterDisposeScope();
    }

    /// <summary><c>forward(x, keyMask)[:, :rows]</c>, computing only those rows (every token still a key and value): a
    /// pre-norm block's row depends on the other rows only through attention, so the rest need no MLP and no scores.</summary>
    public Tensor ForwardFirst(Tensor x, Tensor? keyMask, int rows = 1)
    {
        using var scope = NewDisposeScope();
        var a = attn.ForwardFirst(norm1.forward(x), rows, keyMask);
        var h = x.narrow(1, 0, rows) + (ls1 is null ? a : ls1.forward(a));
        var m = mlp.forward(norm2.forward(h));
        return (h + (ls2 is null ? m : ls2.forward(m))).MoveToOuterDisposeScope();
    }
}

/// <summary>timm's LayerScale: x * gamma, gamma a learned [dim] vector initialised to a constant.</summary>
public sealed class LayerScale : nn.Module<Tensor, Tensor>
{
    private readonly Parameter gamma;

    public LayerScale(int dim, double init) : base(nameof(LayerScale))
    {
        gamma = nn.Parameter(full(dim, init));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x * gamma;
}
