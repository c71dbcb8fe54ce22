namespace LvMae.Model.Adaptive;

/// <summary>How the decoder's targets are chosen among the encoder-masked tokens.</summary>
public enum DecoderMasking
{
    /// <summary>Every masked token (LV-MAE; budget ignored).</summary>
    All,
    /// <summary>A uniformly random subset of the masked tokens, same budget (the ablation's control).</summary>
    Random,
    /// <summary>The highest-scoring masked tokens by the <see cref="TokenScorer"/> (LVMAE).</summary>
    Adaptive,
}

/// <summary>
/// Decoder-token budget arithmetic and selection, per sample, on padded batches (masks [B * N],
/// true = masked, ignored beyond each length). Sample i reconstructs
/// min(ceil(budget x length_i), masked_i) tokens: the budget is a fraction of the sample's VALID
/// length (padding never counts), and the targets are always encoder-masked positions.
/// </summary>
public static class DecoderSelection
{
    /// <summary>all | random | adaptive (case-insensitive), else an ArgumentException naming the choices.</summary>
    public static DecoderMasking Parse(string name) =>
        Enum.TryParse<DecoderMasking>(name, ignoreCase: true, out var mode) && Enum.IsDefined(mode) && !int.TryParse(name, out _)
            ? mode : throw new ArgumentException($"unknown decoder masking '{name}' (use all, random or adaptive)");

    /// <summary>ceil(budget x length), at least 1 for a positive budget; tolerant of float noise
    /// (0.15 x 20 = 3.0000000000000004 is 3, not 4).</summary>
    public static int BudgetTokens(int length, double budget)
    {
        if (budget is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(budget), "the decoder budget is a fraction in (0, 1]");
        return Math.Max(1, (int)Math.Ceiling(budget * length - 1e-9));
    }

    private static List<int> Masked(bool[] mask, int tokens, int sample, int length) =>
        Enumerable.Range(0, length).Where(j => mask[sample * tokens + j]).ToList();

    public static int[][] All(bool[] mask, int[] lengths, int tokens) =>
        lengths.Select((length, i) => Masked(mask, tokens, i, length).ToArray()).ToArray();

    public static int[][] Random(bool[] mask, int[] lengths, int tokens, double budget, Random rng) =>
        lengths.Select((length, i) =>
        {
            var masked = Masked(mask, tokens, i, length).ToArray();
            rng.Shuffle(masked);
            return masked.Take(BudgetTokens(length, budget)).Order().ToArray();
        }).ToArray();

    /// <summary>The top-scoring masked tokens; ties broken by position.</summary>
    /// <param name="scores">[B * N] scores.</param>
    public static int[][] TopK(float[] scores, bool[] mask, int[] lengths, int tokens, double budget) =>
        lengths.Select((length, i) => Masked(mask, tokens, i, length)
            .OrderByDescending(j => scores[i * tokens + j]).ThenBy(j => j)
            .Take(BudgetTokens(length, budget)).Order().ToArray()).ToArray();

    public static int[][] Select(DecoderMasking mode, bool[] mask, int[] lengths, int tokens, double budget, Random rng, Func<float[]>? scores) => mode switch
    {
        DecoderMasking.All => All(mask, lengths, tokens),
        DecoderMasking.Random => Random(mask, lengths, tokens, budget, rng),
        DecoderMasking.Adaptive => TopK(scores?.Invoke() ?? throw new ArgumentException("adaptive decoder masking needs a scorer"), mask, lengths, tokens, budget),
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };
}
