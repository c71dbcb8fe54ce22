using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LvMae.Model.Quantization;

/// <summary>
/// FSQ code indices as MAE targets: the decoder's d-dim prediction goes through a linear code head
/// (d -> codebook size) and the per-token loss is the cross-entropy against the frozen FSQ
/// autoencoder's index of the original segment. Plug in as <see cref="LvMaeModel.Objective"/> and
/// pass <see cref="Targets"/> as Forward's targets; the head's parameters must join the optimiser.
/// </summary>
public sealed class FsqTargetObjective : nn.Module, IReconstructionObjective
{
    private readonly Linear code_head;
    // A delegate, not a module field: RegisterComponents would adopt a module field as a submodule,
    // putting the frozen quantizer's weights into the optimiser and disposing it with this objective.
    private readonly Func<Tensor, Tensor> indices;

    public long CodebookSize { get; }

    public FsqTargetObjective(FsqAutoencoder quantizer, int predictionDim, long seed = 0) : base(nameof(FsqTargetObjective))
    {
        indices = quantizer.Indices;
        CodebookSize = quantizer.Quantizer.CodebookSize;
        code_head = nn.Linear(predictionDim, CodebookSize);
        RegisterComponents();
        SeededInit.Linears(this, seed);
    }

    /// <summary>The head only (the quantizer stays frozen).</summary>
    public IEnumerable<Parameter> HeadParameters() => code_head.parameters();

    /// <summary>[B, N, 1] int64 code indices of raw embeddings [B, N, d] (PAD rows get some index; never read).</summary>
    public Tensor Targets(Tensor embeddings) => indices(LvMaeModel.Normalise(embeddings)).unsqueeze(-1);

    /// <summary>Code logits [..., K] for decoder predictions [..., d].</summary>
    public Tensor Logits(Tensor predictions) => code_head.forward(predictions);

    public Tensor TokenLoss(Tensor predictions, Tensor targets)
    {
        var logits = Logits(predictions);
        var k = logits.shape[^1];
        var loss = nn.functional.cross_entropy(logits.reshape(-1, k), targets.reshape(-1), reduction: nn.Reduction.None);
        return loss.view(predictions.shape[0], predictions.shape[1]);
    }
}
