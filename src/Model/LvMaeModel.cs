using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model;

/// <summary>What one masked-autoencoder pass produced. Tensors live in the caller's dispose scope.</summary>
public sealed record MaeOutput(
    Tensor Loss,          // scalar: objective averaged over every valid target token of the batch
    Tensor TokenLoss,     // [B, T] per target token (0 at padding slots)
    Tensor Predictions,   // [B, T, d] decoder predictions at the target positions
    Tensor Targets,       // [B, T, d] normalised input embeddings at those positions
    Tensor TargetValid,   // [B, T] bool
    Tensor Latent,        // [B, 1 + V, W] encoder output after the final LayerNorm ([CLS] first)
    Tensor DecoderOutput, // [B, 1 + V + T, d] decoder_pred of every decoder token
    TokenLayout Layout)
{
    /// <summary>Decoder predictions scattered back to [B, N, d] at every valid position (visible and
    /// target), zeros elsewhere: the reference's `pred` restricted to valid rows.</summary>
    public Tensor FullPredictions()
    {
        var (b, n, d) = (Layout.Batch, Layout.Tokens, DecoderOutput.shape[2]);
        var device = DecoderOutput.device;
        // Padding slots write into a dump row N, sliced off afterwards: no colliding scatter indices.
        var visIdx = where(Layout.VisibleMask(device), Layout.VisibleIndex(device), n);
        var tgtIdx = where(Layout.TargetMask(device), Layout.TargetIndex(device), n);
        var index = cat([visIdx, tgtIdx], 1).unsqueeze(-1).expand(-1, -1, d);
        var full = zeros(new long[] { b, n + 1, d }, device: device, dtype: DecoderOutput.dtype);
        return full.scatter(1, index, DecoderOutput[.., 1..]).narrow(1, 0, n);
    }
}

/// <summary>
/// LV-MAE (Amazon, ICCV 2025) over sequences of segment embeddings, after the authors' models_mae.py.
/// Inputs are L2-normalised (and scaled by sqrt(d) with <see cref="InputScaling.SqrtDim"/>); the encoder sees [CLS] + visible tokens only; the shallower decoder sees
/// the projected encoder tokens plus one shared mask token per target; the loss is the masked-token
/// MSE. Parameter names equal the reference state dict so weights move through safetensors.
/// </summary>
public sealed class LvMaeModel : nn.Module
{
    // ---- encoder ----
    private readonly InputStandardiser? input_norm;  // only when the config standardises its inputs
    private readonly Linear? input_proj;   // only when a preset's width differs from d
    private readonly Parameter cls_token;
    private readonly Parameter pos_embed;  // fixed sin-cos, not trained
    private readonly ModuleList<TransformerBlock> blocks;
    private readonly LayerNorm norm;
    private readonly RelativePositionBias? rel_pos;  // only when the config asks for one
    // ---- decoder ----
    private readonly Linear decoder_embed;
    private readonly Parameter mask_token;
    private readonly Parameter decoder_pos_embed;  // fixed sin-cos, not trained
    private readonly ModuleList<TransformerBlock> decoder_blocks;
    private readonly LayerNorm decoder_norm;
    private readonly RelativePositionBias? decoder_rel_pos;
    private readonly Linear decoder_pred;

    public MaeConfig Config { get; }
    /// <summary>The reconstruction objective; replaceable (cosine, or a later FSQ head).</summary>
    public IReconstructionObjective Objective { get; set; }

    /// <param name="seed">Seeds a private generator for the initial weights (reproducible whatever
    /// other threads do with torch's global generator); null = the global generator.</param>
    public LvMaeModel(MaeConfig config, long? seed = null) : base("LvMae")
    {
        config.Validate();
        Config = config;
        var (w, dd, n) = (config.Width, config.DecoderDim, config.MaxTokens);
        if (config.StandardiseInputs) input_norm = new InputStandardiser(config.EmbeddingDim);
        if (config.HasInputProjection) input_proj = nn.Linear(config.EmbeddingDim, w);
        cls_token = nn.Parameter(zeros(1, 1, w));
        pos_embed = nn.Parameter(PositionalEncoding.Table(n, w), requires_grad: false);
        blocks = nn.ModuleList(Enumerable.Range(0, config.EncoderDepth).Select(_ => new TransformerBlock(w, config.EncoderHeads, config.MlpRatio, config.LayerNormEps, config.LayerScale)).ToArray());
        norm = nn.LayerNorm(w, config.LayerNormEps);
        if (config.RelativePositionRange is { } range && config.EncoderRelativePositions) rel_pos = new RelativePositionBias(config.EncoderHeads, range);

        decoder_embed = nn.Linear(w, dd);
        mask_token = nn.Parameter(zeros(1, 1, dd));
        decoder_pos_embed = nn.Parameter(PositionalEncoding.Table(n, dd), requires_grad: false);
        decoder_blocks = nn.ModuleList(Enumerable.Range(0, config.DecoderDepth).Select(_ => new TransformerBlock(dd, config.DecoderHeads, config.MlpRatio, config.LayerNormEps, config.LayerScale)).ToArray());
        decoder_norm = nn.LayerNorm(dd, config.LayerNormEps);
        if (config.RelativePositionRange is { } decoderRange && config.DecoderRelativePositions) decoder_rel_pos = new RelativePositionBias(config.DecoderHeads, decoderRange);
        decoder_pred = nn.Linear(dd, config.EmbeddingDim);
        RegisterComponents();

        Objective = config.Loss == ReconstructionLoss.Cosine ? new CosineObjective() : new MseObjective();
        using var generator = seed is { } value ? new Generator((ulong)value, CPU) : null;
        InitializeWeights(generator);
    }

    /// <summary>MAE's initialize_weights: xavier-uniform linears with zero bias, unit LayerNorms,
    /// N(0, 0.02) [CLS] and mask token.</summary>
    private void InitializeWeights(Generator? generator)
    {
        using var _ = no_grad();
        cls_token.normal_(0, 0.02, generator);  // (nn.init.* ignore the generator in TorchSharp 0.107)
        mask_token.normal_(0, 0.02, generator);
        foreach (var (_, module) in named_modules())
        {
            if (module is Linear linear)
            {
                // xavier_uniform_: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
                var bound = Math.Sqrt(6.0 / (linear.weight.shape[0] + linear.weight.shape[1]));
                linear.weight.uniform_(-bound, bound, generator);
                if (linear.bias is not null) nn.init.zeros_(linear.bias);
            }
            else if (module is LayerNorm layerNorm)
            {
                nn.init.ones_(layerNorm.weight);
                nn.init.zeros_(layerNorm.bias);
            }
        }
    }

    /// <summary>Parameters the optimiser updates (the sin-cos tables are fixed).</summary>
    public IEnumerable<Parameter> TrainableParameters() => parameters().Where(p => p.requires_grad);

    /// <summary>L2-normalise every segment embedding (zero PAD rows stay zero).</summary>
    public static Tensor Normalise(Tensor embeddings) => nn.functional.normalize(embeddings, p: 2, dim: -1);

    /// <summary>What the encoder sees and the decoder reconstructs: L2-normalised embeddings (standardised with the
    /// corpus statistics and normalised again when <see cref="MaeConfig.StandardiseInputs"/>) times
    /// <see cref="MaeConfig.InputScale"/> (1 as the reference; sqrt(d) for the presets, so inputs are O(1) per
    /// dimension like the sin-cos positions added to them).</summary>
    public Tensor PrepareInput(Tensor embeddings)
    {
        var unit = Normalise(embeddings);
        if (input_norm is not null) unit = Normalise(input_norm.forward(unit));
        return Config.InputScaling == InputScaling.Unit ? unit : unit * Config.InputScale;
    }

    /// <summary>Reconstructions [.., d] from the space the model predicts in (<see cref="PrepareInput"/>'s) back to unit
    /// embeddings comparable with the inputs (retrieval, cosines): the scaling and the standardisation undone. The
    /// standardised vector's norm, dropped by the renormalisation, is taken as its typical sqrt(d).</summary>
    public Tensor ToEmbeddingSpace(Tensor predictions)
    {
        var direction = predictions / Config.InputScale;
        return Normalise(input_norm is null ? direction : input_norm.Restore(direction * Math.Sqrt(Config.EmbeddingDim)));
    }

    /// <summary>Fits the input standardisation on a batch's valid rows (a no-op for a model without one).</summary>
    public void ObserveInputs(Tensor embeddings, int[] lengths)
    {
        if (input_norm is null) return;
        using var scope = NewDisposeScope();
        var n = embeddings.shape[1];
        var valid = arange(n, device: embeddings.device).unsqueeze(0) < tensor(lengths, device: embeddings.device).unsqueeze(1);
        input_norm.Observe(Normalise(embeddings)[valid]);
    }

    /// <summary>Tokens the input standardisation was fitted on (0 = none, or a model without one).</summary>
    public long StandardisedOn => input_norm?.Count ?? 0;

    /// <summary>Boolean key mask [B, 1, 1, 1 + S] from a [B, S] validity mask, [CLS] always valid.</summary>
    private static Tensor KeyMask(params Tensor[] valid)
    {
        var cls = ones(valid[0].shape[0], 1, dtype: ScalarType.Bool, device: valid[0].device);
        return cat([cls, .. valid], 1).unsqueeze(1).unsqueeze(1);
    }

    private static Tensor Gather(Tensor x, Tensor index) => x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]));

    private static Tensor Positions(Tensor table, Tensor index) =>
        table[0].index_select(0, (index + 1).flatten()).view(index.shape[0], index.shape[1], -1);

    /// <summary>Encoder over [CLS] + the layout's visible tokens of prepared <paramref name="x"/> [B, N, d] (<see cref="PrepareInput"/>).
    /// Returns the latent [B, 1 + V, W] after the final LayerNorm.</summary>
    public Tensor Encode(Tensor x, TokenLayout layout)
    {
        var device = x.device;
        var visIdx = layout.VisibleIndex(device);
        var tokens = Gather(x, visIdx);
        if (input_proj is not null) tokens = input_proj.forward(tokens);
        tokens = tokens + Positions(pos_embed, visIdx);
        var cls = (cls_token + pos_embed.narrow(1, 0, 1)).expand(x.shape[0], -1, -1);
        var h = cat([cls, tokens], 1);
        var keyMask = KeyMask(layout.VisibleMask(device));
        if (rel_pos is not null)
            keyMask = rel_pos.Mask(cat([full(x.shape[0], 1, -1L, dtype: ScalarType.Int64, device: device), visIdx], 1), keyMask);
        foreach (var block in blocks) h = block.forward(h, keyMask);
        return norm.forward(h);
    }

    /// <summary>Decoder: projected latent tokens at their own positions + the mask token at each
    /// target position, sin-cos positions on all, [CLS] first. Returns decoder_pred of every token
    /// [B, 1 + V + T, d].</summary>
    public Tensor Decode(Tensor latent, TokenLayout layout)
    {
        var device = latent.device;
        var (visIdx, tgtIdx) = (layout.VisibleIndex(device), layout.TargetIndex(device));
        var z = decoder_embed.forward(latent);
        var masks = mask_token.expand(latent.shape[0], layout.Targets, -1);
        var pos = cat([decoder_pos_embed.narrow(1, 0, 1).expand(latent.shape[0], -1, -1), Positions(decoder_pos_embed, visIdx), Positions(decoder_pos_embed, tgtIdx)], 1);
        var h = cat([z, masks], 1) + pos;
        var keyMask = KeyMask(layout.VisibleMask(device), layout.TargetMask(device));
        if (decoder_rel_pos is not null)
            keyMask = decoder_rel_pos.Mask(cat([full(latent.shape[0], 1, -1L, dtype: ScalarType.Int64, device: device), visIdx, tgtIdx], 1), keyMask);
        foreach (var block in decoder_blocks) h = block.forward(h, keyMask);
        return decoder_pred.forward(decoder_norm.forward(h));
    }

    /// <summary>One masked-autoencoder pass over raw (unnormalised) embeddings [B, N, d].</summary>
    /// <param name="targets">Optional reconstruction targets [B, N, *] per position (default: the
    /// prepared inputs, <see cref="PrepareInput"/>, as the reference); only rows at decoder-target positions are ever read.</param>
    public MaeOutput Forward(Tensor embeddings, TokenLayout layout, Tensor? targets = null)
    {
        if (embeddings.shape[1] != layout.Tokens || embeddings.shape[0] != layout.Batch)
            throw new ArgumentException($"embeddings [{string.Join(", ", embeddings.shape)}] do not match the layout {layout.Batch} x {layout.Tokens}");
        if (embeddings.shape[2] != Config.EmbeddingDim)
            throw new ArgumentException($"embeddings are {embeddings.shape[2]}-d, the model expects {Config.EmbeddingDim}-d");
        if (layout.Tokens > Config.MaxTokens) throw new ArgumentException($"{layout.Tokens} tokens exceed the model's max of {Config.MaxTokens}");
        var x = PrepareInput(embeddings);
        var latent = Encode(x, layout);
        var decoded = Decode(latent, layout);
        var predictions = decoded.narrow(1, 1 + layout.Visible, layout.Targets);
        var targetRows = Gather(targets ?? x, layout.TargetIndex(x.device));
        var valid = layout.TargetMask(x.device);
        // Sum over the batch's masked tokens / their count (not a mean of per-video means).
        var tokenLoss = Objective.TokenLoss(predictions, targetRows) * valid;
        var loss = tokenLoss.sum() / valid.sum().clamp_min(1);
        return new MaeOutput(loss, tokenLoss, predictions, targetRows, valid, latent, decoded, layout);
    }

    /// <summary>Encoder outputs for unmasked inputs (probing, export): latent [B, 1 + N, W] where
    /// row j + 1 is segment j (rows beyond each length are meaningless).</summary>
    public Tensor EncodeAll(Tensor embeddings, int[] lengths) =>
        Encode(PrepareInput(embeddings), TokenLayout.Unmasked((int)embeddings.shape[1], lengths));
}

/// <summary>Per-token reconstruction objective: [B, T, d] x [B, T, d] -> [B, T].</summary>
public interface IReconstructionObjective
{
    Tensor TokenLoss(Tensor predictions, Tensor targets);
}

/// <summary>The reference loss: mean over d of the squared error.</summary>
public sealed class MseObjective : IReconstructionObjective
{
    public Tensor TokenLoss(Tensor predictions, Tensor targets) => (predictions - targets).square().mean([-1L]);
}

/// <summary>1 - cosine similarity (an option; targets are unit vectors already).</summary>
public sealed class CosineObjective : IReconstructionObjective
{
    public Tensor TokenLoss(Tensor predictions, Tensor targets) => 1 - nn.functional.cosine_similarity(predictions, targets, dim: -1);
}
