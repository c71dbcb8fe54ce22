using System.Globalization;
using System.Text;
using LvMae.Formats;

namespace LvMae.Corpus;

/// <summary>
/// What an order benchmark is made of. Same spec (in particular the same <see cref="Seed"/>) = the same files.
/// </summary>
public sealed record OrderBenchmarkSpec
{
    public long Seed { get; init; } = 18;
    public int Videos { get; init; } = 400;
    /// <summary>Activity classes: class s (1-based) walks the <see cref="Steps"/> steps with stride s, a directed cycle.</summary>
    public int Classes { get; init; } = 10;
    /// <summary>A prime above <see cref="Classes"/>: then the classes' cycles share no directed transition (one observed
    /// "A then B" names the class, as in the video corpus), while every class contains every step once per cycle.</summary>
    public int Steps { get; init; } = 11;
    /// <summary>Times a video walks its class's cycle: uniform in [min, max].</summary>
    public int MinCycles { get; init; } = 1;
    public int MaxCycles { get; init; } = 2;
    /// <summary>Distractor step types inserted independently of the class.</summary>
    public int DistractorTypes { get; init; } = 4;
    public int MaxDistractorsPerVideo { get; init; } = 3;
    public int Dimension { get; init; } = 256;
    /// <summary>Every step occurrence lasts uniform [min, max] segments of 5 s, independently of everything else.</summary>
    public int MinStepSegments { get; init; } = 2;
    public int MaxStepSegments { get; init; } = 12;
    /// <summary>Videos are cut to at most this many segments (240 = 20 minutes).</summary>
    public int MaxSegments { get; init; } = 240;
    /// <summary>Norm of the component every segment shares (real encoders' embeddings are far from centred).</summary>
    public double Common { get; init; } = 2.0;
    /// <summary>Norm of a per-video offset (camera, lighting: the video's style).</summary>
    public double Style { get; init; } = 0.4;
    /// <summary>Norm of the drift along a step's own direction from its start to its end.</summary>
    public double Drift { get; init; } = 0.5;
    /// <summary>Norm of the independent per-segment noise.</summary>
    public double Noise { get; init; } = 0.8;
    public double TestFraction { get; init; } = 0.25;
    public double ValFraction { get; init; }

    public void Validate()
    {
        void Require(bool ok, string message) { if (!ok) throw new ArgumentException($"order benchmark: {message}"); }
        Require(Videos >= 2 * Classes, "need at least two videos per class");
        Require(Steps >= 3, "need at least 3 steps for order to matter");
        Require(Classes >= 2 && Classes < Steps && IsPrime(Steps), $"{Classes} classes need a prime number of steps above it (got {Steps})");
        Require(Dimension >= 8, "dimension must be at least 8");
        Require(MinStepSegments >= 1 && MaxStepSegments >= MinStepSegments, "need 1 <= MinStepSegments <= MaxStepSegments");
        Require(MinCycles >= 1 && MaxCycles >= MinCycles, "need 1 <= MinCycles <= MaxCycles");
        Require(MaxSegments >= Steps, "MaxSegments must leave room for one segment per step");
        Require(DistractorTypes >= 0 && MaxDistractorsPerVideo >= 0 && (DistractorTypes > 0 || MaxDistractorsPerVideo == 0), "distractors need distractor types");
        Require(TestFraction + ValFraction is > 0 and < 1, "test + val fractions must be in (0, 1)");
    }

    private static bool IsPrime(int n) => n >= 2 && Enumerable.Range(2, Math.Max(0, (int)Math.Sqrt(n) - 1)).All(k => n % k != 0);
}

/// <summary>One generated video: its segment embeddings [Segments, Dimension] row-major, its labels and the step each
/// segment shows (0..Steps-1 core steps, then distractors).</summary>
public sealed record OrderBenchmarkVideo(string Id, string Activity, string Split, float[] Embeddings, int Segments, int[] SegmentSteps);

/// <summary>
/// A precomputed-embedding benchmark whose label depends only on the ORDER of steps, as a stand-in for held-back
/// benchmarks imported with `lvmae import-embeddings --labels`: every class is one cyclic order of the same steps (the
/// video corpus's design, docs/BENCHMARK-CORPUS.md, with 11 steps and 10 strides), walked once or twice from a random step, with distractor steps inserted at random; every occurrence lasts a random number of
/// 5 s segments drawn independently of the class. So the bag of segment embeddings has the same distribution in every
/// class (an order-blind probe is at chance by construction), and only order separates them. Segment embedding =
/// a large common component + the step's prototype + a drift along the step + the video's style + noise.
/// </summary>
public static class OrderBenchmark
{
    public const string LabelsFileName = "labels.csv";
    public const string LabelColumn = "activity";

    public static IReadOnlyList<OrderBenchmarkVideo> Generate(OrderBenchmarkSpec spec)
    {
        spec.Validate();
        var d = spec.Dimension;
        var shared = DeterministicRandom.Derive(spec.Seed, "vectors", 0);
        var common = shared.NextVector(d, spec.Common);
        var stepTypes = spec.Steps + spec.DistractorTypes;
        var prototypes = Enumerable.Range(0, stepTypes).Select(_ => shared.NextVector(d)).ToArray();
        var drifts = Enumerable.Range(0, stepTypes).Select(_ => shared.NextVector(d, spec.Drift)).ToArray();
        var orders = ClassOrders(spec);

        var videos = new List<OrderBenchmarkVideo>(spec.Videos);
        for (var v = 0; v < spec.Videos; v++)
        {
            var rng = DeterministicRandom.Derive(spec.Seed, "video", v);
            var cls = v % spec.Classes; // balanced classes
            var timeline = Timeline(orders[cls], spec, rng);
            var segments = Math.Min(spec.MaxSegments, timeline.Sum(t => t.Length));
            var style = rng.NextVector(d, spec.Style);
            var data = new float[segments * d];
            var truth = new int[segments];
            var row = 0;
            foreach (var (step, length) in timeline)
                for (var j = 0; j < length && row < segments; j++, row++)
                {
                    truth[row] = step;
                    var along = length == 1 ? 0 : (double)j / (length - 1) - 0.5;
                    for (var k = 0; k < d; k++)
                        data[row * d + k] = (float)(common[k] + prototypes[step][k] + along * drifts[step][k] + style[k]
                                                    + spec.Noise / Math.Sqrt(d) * rng.NextGaussian());
                }
            videos.Add(new OrderBenchmarkVideo($"ob{v:D4}", $"class{cls:D2}", Split(v / spec.Classes, spec.Videos / spec.Classes, spec), data, segments, truth));
        }
        return videos;
    }

    /// <summary>Writes &lt;id&gt;.npy per video and labels.csv (videoId,activity,split) into <paramref name="directory"/>.</summary>
    public static IReadOnlyList<OrderBenchmarkVideo> Write(string directory, OrderBenchmarkSpec spec)
    {
        Directory.CreateDirectory(directory);
        var videos = Generate(spec);
        var csv = new StringBuilder("videoId,").Append(LabelColumn).Append(",split\n");
        foreach (var video in videos)
        {
            NpyArray.FromFloats(video.Embeddings, video.Segments, spec.Dimension).Write(Path.Combine(directory, video.Id + ".npy"));
            csv.Append(video.Id).Append(',').Append(video.Activity).Append(',').Append(video.Split).Append('\n');
        }
        File.WriteAllText(Path.Combine(directory, LabelsFileName), csv.ToString());
        return videos;
    }

    /// <summary>Class c walks the steps with stride c + 1 (mod a prime number of steps): Hamiltonian cycles that share
    /// no directed transition. Step identities are shuffled once, so stride 1 is not "prototype order".</summary>
    private static int[][] ClassOrders(OrderBenchmarkSpec spec)
    {
        var names = Enumerable.Range(0, spec.Steps).ToList();
        DeterministicRandom.Derive(spec.Seed, "orders", 0).Shuffle(names);
        return Enumerable.Range(1, spec.Classes).Select(stride => Enumerable.Range(0, spec.Steps).Select(i => names[i * stride % spec.Steps]).ToArray()).ToArray();
    }

    /// <summary>The class's cycle walked 1..n times from a random step, distractors in random gaps, random durations.</summary>
    private static List<(int Step, int Length)> Timeline(int[] order, OrderBenchmarkSpec spec, DeterministicRandom rng)
    {
        var start = rng.Next(order.Length);
        var cycles = rng.NextInclusive(spec.MinCycles, spec.MaxCycles);
        var steps = Enumerable.Range(0, order.Length * cycles).Select(i => order[(start + i) % order.Length]).ToList();
        var distractors = spec.DistractorTypes == 0 ? 0 : rng.NextInclusive(0, spec.MaxDistractorsPerVideo);
        var gaps = Enumerable.Range(1, steps.Count - 1).ToList();
        rng.Shuffle(gaps);
        foreach (var gap in gaps.Take(distractors).OrderDescending())
            steps.Insert(gap, spec.Steps + rng.Next(spec.DistractorTypes));
        return steps.Select(s => (s, rng.NextInclusive(spec.MinStepSegments, spec.MaxStepSegments))).ToList();
    }

    /// <summary>The k-th video of its class: the last test share of each class is test, the val share before it val.</summary>
    private static string Split(int k, int perClass, OrderBenchmarkSpec spec)
    {
        var test = Math.Max(1, (int)Math.Round(perClass * spec.TestFraction));
        var val = (int)Math.Round(perClass * spec.ValFraction);
        return k >= perClass - test ? "test" : k >= perClass - test - val ? "val" : "train";
    }
}
