using static TorchSharp.torch;

namespace LvMae.Model.Adaptive;

/// <summary>
/// Differentiable top-k by perturbed optimisation (Berthet et al. 2020; Cordonnier et al. 2021).
/// Forward: the mean over M Gaussian-noised copies of the hard top-k indicator of s + sigma z, i.e. a
/// Monte-Carlo estimate of each token's selection probability. Backward: the estimated Jacobian
/// J = (1 / (M sigma)) sum_m y_m z_m^T (here with a mean baseline, see Apply). Without a custom autograd function: y.detach() + J (s - s.detach())
/// has value y and gradient J. We only need the per-token selection probability (the sum over the
/// k slots of Cordonnier's [k, N] indicator), which keeps everything [B, N].
/// </summary>
public static class PerturbedTopK
{
    /// <summary>Hard top-k indicator along the last dim with a per-row k ([..., N] scores, k broadcastable to [..., 1]).</summary>
    public static Tensor Hard(Tensor scores, Tensor k)
    {
        var ranks = scores.argsort(dim: -1, descending: true).argsort(dim: -1);   // rank of each position
        return (ranks < k).to(scores.dtype);
    }

    /// <param name="scores">[B, N] token scores (with grad).</param>
    /// <param name="valid">[B, N] bool; invalid (PAD) tokens are never selected.</param>
    /// <param name="k">[B] int64 tokens to select per row (at most its valid count).</param>
    /// <returns>[B, N] selection probabilities in [0, 1], summing to k per row, differentiable in scores.</returns>
    public static Tensor Apply(Tensor scores, Tensor valid, Tensor k, int samples = 100, double sigma = 0.05, Generator? generator = null)
    {
        var (b, n) = (scores.shape[0], scores.shape[1]);
        var clean = scores.detach().masked_fill(valid.logical_not(), double.NegativeInfinity);
        var noise = randn(new long[] { samples, b, n }, generator: generator, device: scores.device).to(scores.dtype);
        var hard = Hard(clean.unsqueeze(0) + sigma * noise, k.view(1, b, 1));   // [M, B, N]
        var probabilities = hard.mean([0L]);

        // J ds = (1 / (M sigma)) sum_m (y_m - mean y) (z_m . ds), never materialising the [B, N, N]
        // Jacobian. Subtracting the mean is a control variate (E z = 0, so still unbiased): without it
        // a token selected in every sample gets a pure-noise row mean(z) / sigma.
        var ds = (scores - scores.detach()).masked_fill(valid.logical_not(), 0);
        var projection = (noise * ds.unsqueeze(0)).sum([-1L], keepdim: true);    // [M, B, 1]
        var jvp = ((hard - probabilities) * projection).sum([0L]) / (samples * sigma);
        return probabilities + jvp;
    }
}
