namespace LvMae.Model.Probing;

/// <summary>
/// Frozen per-video features for probing: <see cref="Tokens"/>[i] is [n_i, Dim] row-major;
/// <see cref="Cls"/>[i] the encoder's [CLS] output, or null for raw segment embeddings (the
/// attentive probe then learns its own query token). Labels for classification, Targets for regression.
/// </summary>
public sealed record ProbeSet(IReadOnlyList<float[]> Tokens, IReadOnlyList<float[]>? Cls, int Dim, int[]? Labels = null, float[]? Targets = null)
{
    public int Count => Tokens.Count;

    /// <summary>LV-MAE features: the frozen encoder over each whole video (see <see cref="Representation"/>).</summary>
    public static ProbeSet FromEncoder(LvMaeModel model, IReadOnlyList<float[]> videos, int dim, int[]? labels = null, float[]? targets = null)
    {
        var encoded = Representation.EncodeMany(model, videos, dim);
        return new ProbeSet(encoded.Select(e => e.Tokens).ToList(), encoded.Select(e => e.Cls).ToList(), model.Config.Width, labels, targets);
    }

    /// <summary>The paper's baseline: raw segment embeddings, L2-normalised as the model sees them.</summary>
    public static ProbeSet Raw(IReadOnlyList<float[]> videos, int dim, int[]? labels = null, float[]? targets = null) =>
        new(videos.Select(v => Normalise(v, dim)).ToList(), null, dim, labels, targets);

    public ProbeSet Subset(IReadOnlyList<int> indices) => new(
        indices.Select(i => Tokens[i]).ToList(),
        Cls is null ? null : indices.Select(i => Cls[i]).ToList(),
        Dim,
        Labels is null ? null : indices.Select(i => Labels[i]).ToArray(),
        Targets is null ? null : indices.Select(i => Targets[i]).ToArray());

    /// <summary>A seeded held-out split, stratified by label when there are labels.</summary>
    public (ProbeSet Train, ProbeSet Test) Split(double testFraction, int seed)
    {
        var rng = new Random(seed);
        var groups = Labels is null
            ? [Enumerable.Range(0, Count).ToArray()]
            : Enumerable.Range(0, Count).GroupBy(i => Labels[i]).OrderBy(g => g.Key).Select(g => g.ToArray()).ToList();
        var train = new List<int>();
        var test = new List<int>();
        foreach (var group in groups)
        {
            rng.Shuffle(group);
            var nTest = group.Length < 2 ? 0 : Math.Max(1, (int)Math.Round(group.Length * testFraction));
            test.AddRange(group.Take(nTest));
            train.AddRange(group.Skip(nTest));
        }
        train.Sort();
        test.Sort();
        return (Subset(train), Subset(test));
    }

    private static float[] Normalise(float[] video, int dim)
    {
        var result = new float[video.Length];
        for (var j = 0; j < video.Length / dim; j++)
        {
            double norm = 0;
            for (var k = 0; k < dim; k++) norm += video[j * dim + k] * video[j * dim + k];
            var scale = (float)(1 / Math.Max(Math.Sqrt(norm), 1e-12));
            for (var k = 0; k < dim; k++) result[j * dim + k] = video[j * dim + k] * scale;
        }
        return result;
    }
}
