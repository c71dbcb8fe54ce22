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

    private static float[] Normalise(float[] video, int dim) => VectorMath.NormaliseRows(video, dim);

    /// <summary>Per-dimension means and standard deviations of a train set's tokens (and [CLS]), applied to any set.</summary>
    public sealed class Standardiser
    {
        private readonly int _dim;
        private readonly (double[] Mean, double[] Std) _tokens;
        private readonly (double[] Mean, double[] Std)? _cls;

        private Standardiser(int dim, (double[], double[]) tokens, (double[], double[])? cls) => (_dim, _tokens, _cls) = (dim, tokens, cls);

        public static Standardiser Fit(ProbeSet train) =>
            new(train.Dim, Stats(train.Tokens, train.Dim), train.Cls is null ? null : Stats(train.Cls, train.Dim));

        public ProbeSet Apply(ProbeSet set) => set with
        {
            Tokens = set.Tokens.Select(t => ProbeSet.Apply(t, _tokens.Mean, _tokens.Std, _dim)).ToList(),
            Cls = set.Cls is null || _cls is not { } c ? null : set.Cls.Select(x => ProbeSet.Apply(x, c.Mean, c.Std, _dim)).ToList(),
        };
    }

    private static (double[] Mean, double[] Std) Stats(IReadOnlyList<float[]> rows, int d)
    {
        var mean = new double[d];
        var sq = new double[d];
        long n = 0;
        foreach (var r in rows)
            for (var j = 0; j < r.Length / d; j++, n++)
                for (var k = 0; k < d; k++) { var x = r[j * d + k]; mean[k] += x; sq[k] += x * x; }
        var std = new double[d];
        for (var k = 0; k < d; k++)
        {
            mean[k] /= Math.Max(1, n);
            std[k] = Math.Sqrt(Math.Max(sq[k] / Math.Max(1, n) - mean[k] * mean[k], 0));
        }
        // A dimension that is (nearly) constant over the train set carries no signal: dividing it by its own tiny sd would
        // blow rounding noise up to unit scale. Floor every sd at 1e-3 of the typical one.
        var floor = 1e-3 * std.DefaultIfEmpty(0).Average() + 1e-12;
        for (var k = 0; k < d; k++) std[k] = Math.Max(std[k], floor);
        return (mean, std);
    }

    private static float[] Apply(float[] x, double[] mean, double[] std, int d)
    {
        var y = new float[x.Length];
        for (var i = 0; i < x.Length; i++) y[i] = (float)((x[i] - mean[i % d]) / std[i % d]);
        return y;
    }
}
