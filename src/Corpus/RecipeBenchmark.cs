using System.Text;
using LvMae.Formats;

namespace LvMae.Corpus;

/// <summary>How a recipe benchmark's segments show their step.</summary>
public enum StepRendering
{
    /// <summary>Every segment of a step is near the step's own prototype: one segment names its step.</summary>
    Prototype,
    /// <summary>A step alternates between two symbols of a small alphabet that other steps share: one segment names only
    /// its symbol, and its step is known only from its neighbours (the pair that alternates around it).</summary>
    Alternating,
}

/// <summary>
/// What a recipe benchmark is made of (same spec, same files). Splits per class: pretrain (unlabelled: no probe
/// labels, split=pretrain), train, val, test, as a user with a large unlabelled corpus and a small labelled one has.
/// </summary>
public sealed record RecipeBenchmarkSpec
{
    public long Seed { get; init; } = 24;
    public int Classes { get; init; } = 10;
    /// <summary>Steps every recipe shares; class c walks them in its own fixed order.</summary>
    public int Steps { get; init; } = 8;
    public StepRendering Rendering { get; init; } = StepRendering.Prototype;
    /// <summary>Symbols the alternating rendering draws its step pairs from.</summary>
    public int Alphabet { get; init; } = 6;
    public int PretrainPerClass { get; init; } = 100;
    public int TrainPerClass { get; init; } = 40;
    public int ValPerClass { get; init; } = 20;
    public int TestPerClass { get; init; } = 20;
    public int Dimension { get; init; } = 256;
    /// <summary>Every step occurrence lasts uniform [min, max] segments of 5 s, independently of the class.</summary>
    public int MinStepSegments { get; init; } = 3;
    public int MaxStepSegments { get; init; } = 20;
    /// <summary>Probability that a video swaps one random pair of adjacent steps of its recipe (cooks differ).</summary>
    public double SwapProbability { get; init; } = 0.5;
    /// <summary>Segments of distractor steps before the recipe starts: uniform [0, max] (how late a video gets going), so
    /// where a step sits in absolute time says little and its order among the others says everything.</summary>
    public int MaxLeadSegments { get; init; } = 60;
    public int DistractorTypes { get; init; } = 3;
    public int MaxDistractorsPerVideo { get; init; } = 2;
    public double Common { get; init; } = 2.0;
    public double Style { get; init; } = 0.4;
    public double Drift { get; init; } = 0.5;
    public double Noise { get; init; } = 0.8;
    /// <summary>Video id prefix; empty: by rendering ("rb" prototype, "rc" alternating). Video ids are global in a cluster,
    /// so variants of one rendering (another noise level) need their own to import side by side.</summary>
    public string IdPrefix { get; init; } = "";

    public int Videos => Classes * (PretrainPerClass + TrainPerClass + ValPerClass + TestPerClass);

    public void Validate()
    {
        void Require(bool ok, string message) { if (!ok) throw new ArgumentException($"recipe benchmark: {message}"); }
        Require(Classes >= 2 && Steps >= 3, "need at least 2 classes and 3 steps");
        Require(TrainPerClass >= 1 && TestPerClass >= 1 && PretrainPerClass >= 0 && ValPerClass >= 0, "need train and test videos in every class");
        Require(MinStepSegments >= 1 && MaxStepSegments >= MinStepSegments, "need 1 <= MinStepSegments <= MaxStepSegments");
        Require(MaxLeadSegments >= 0, "MaxLeadSegments must not be negative");
        Require(Dimension >= 8, "dimension must be at least 8");
        Require(Noise >= 0 && double.IsFinite(Noise), "noise must be a finite number >= 0");
        Require(IdPrefix.All(char.IsAsciiLetterOrDigit), "the id prefix takes ASCII letters and digits only");
        Require(Rendering == StepRendering.Prototype || Alphabet * (Alphabet - 1) / 2 >= Steps + DistractorTypes, "the alphabet has fewer symbol pairs than steps");
    }
}

/// <summary>One generated video: embeddings [Segments, Dimension], its labels (empty for pretrain videos) and split.</summary>
public sealed record RecipeVideo(string Id, string Recipe, string OrderLabel, string Split, float[] Embeddings, int Segments);

/// <summary>
/// An order-dependent benchmark of precomputed segment embeddings, shaped like the held-back benchmarks users import:
/// `recipe` (10 classes, every class the same steps in its own order; one adjacent pair may be swapped, distractor
/// steps inserted, durations random and independent of the class, so the bag of segments is the same in every class)
/// and `order_label` (does the first step of the shared list come before the second in this video: 2 classes), and a
/// split column with a large unlabelled pretrain share. With <see cref="StepRendering.Alternating"/> a segment's meaning
/// depends on its neighbours. Segment = common component + symbol prototype + drift along the step + style + noise.
/// </summary>
public static class RecipeBenchmark
{
    public const string LabelsFileName = "labels.csv";

    public static IReadOnlyList<RecipeVideo> Generate(RecipeBenchmarkSpec spec)
    {
        spec.Validate();
        var d = spec.Dimension;
        var shared = DeterministicRandom.Derive(spec.Seed, "vectors", 0);
        var common = shared.NextVector(d, spec.Common);
        var stepTypes = spec.Steps + spec.DistractorTypes;
        var symbols = spec.Rendering == StepRendering.Prototype ? stepTypes : spec.Alphabet;
        var prototypes = Enumerable.Range(0, symbols).Select(_ => shared.NextVector(d)).ToArray();
        var drifts = Enumerable.Range(0, stepTypes).Select(_ => shared.NextVector(d, spec.Drift)).ToArray();
        var pairs = SymbolPairs(spec, stepTypes);
        var recipes = Recipes(spec);
        var perClass = spec.PretrainPerClass + spec.TrainPerClass + spec.ValPerClass + spec.TestPerClass;

        var videos = new List<RecipeVideo>(spec.Videos);
        // Video ids are global in a cluster: the two renderings get their own prefixes so both benchmarks import side by side.
        var idPrefix = spec.IdPrefix != "" ? spec.IdPrefix : spec.Rendering == StepRendering.Prototype ? "rb" : "rc";
        for (var v = 0; v < spec.Videos; v++)
        {
            var rng = DeterministicRandom.Derive(spec.Seed, "video", v);
            var cls = v % spec.Classes;
            var k = v / spec.Classes;
            var split = k < spec.PretrainPerClass ? "pretrain" : k < spec.PretrainPerClass + spec.TrainPerClass ? "train"
                : k < perClass - spec.TestPerClass ? "val" : "test";
            var steps = recipes[cls].ToList();
            if (rng.NextDouble() < spec.SwapProbability)
            {
                var i = rng.Next(steps.Count - 1);
                (steps[i], steps[i + 1]) = (steps[i + 1], steps[i]);
            }
            var orderLabel = steps.IndexOf(0) < steps.IndexOf(1) ? "before" : "after";
            var distractors = spec.DistractorTypes == 0 ? 0 : rng.NextInclusive(0, spec.MaxDistractorsPerVideo);
            for (var i = 0; i < distractors; i++) steps.Insert(1 + rng.Next(steps.Count - 1), spec.Steps + rng.Next(spec.DistractorTypes));

            var style = rng.NextVector(d, spec.Style);
            var rows = new List<float[]>();
            var lead = spec.DistractorTypes == 0 ? 0 : rng.NextInclusive(0, spec.MaxLeadSegments);
            var timeline = new List<(int Step, int Length)>();
            while (lead > 0)
            {
                var length = Math.Min(lead, rng.NextInclusive(spec.MinStepSegments, spec.MaxStepSegments));
                timeline.Add((spec.Steps + rng.Next(spec.DistractorTypes), length));
                lead -= length;
            }
            timeline.AddRange(steps.Select(step => (step, rng.NextInclusive(spec.MinStepSegments, spec.MaxStepSegments))));
            foreach (var (step, length) in timeline)
            {
                var phase = rng.Next(2);
                for (var j = 0; j < length; j++)
                {
                    var symbol = spec.Rendering == StepRendering.Prototype ? step : (j + phase) % 2 == 0 ? pairs[step].A : pairs[step].B;
                    var along = length == 1 ? 0 : (double)j / (length - 1) - 0.5;
                    var row = new float[d];
                    for (var c = 0; c < d; c++)
                        row[c] = (float)(common[c] + prototypes[symbol][c] + along * drifts[step][c] + style[c] + spec.Noise / Math.Sqrt(d) * rng.NextGaussian());
                    rows.Add(row);
                }
            }
            var labelled = split != "pretrain";
            videos.Add(new RecipeVideo($"{idPrefix}{v:D5}", labelled ? $"recipe{cls:D2}" : "", labelled ? orderLabel : "", split, rows.SelectMany(r => r).ToArray(), rows.Count));
        }
        return videos;
    }

    /// <summary>Writes &lt;id&gt;.npy per video and labels.csv (videoId,recipe,order_label,split; pretrain rows unlabelled).</summary>
    public static IReadOnlyList<RecipeVideo> Write(string directory, RecipeBenchmarkSpec spec)
    {
        Directory.CreateDirectory(directory);
        var videos = Generate(spec);
        var csv = new StringBuilder("videoId,recipe,order_label,split\n");
        foreach (var video in videos)
        {
            NpyArray.FromFloats(video.Embeddings, video.Segments, spec.Dimension).Write(Path.Combine(directory, video.Id + ".npy"));
            csv.Append(video.Id).Append(',').Append(video.Recipe).Append(',').Append(video.OrderLabel).Append(',').Append(video.Split).Append('\n');
        }
        File.WriteAllText(Path.Combine(directory, LabelsFileName), csv.ToString());
        return videos;
    }

    /// <summary>Distinct random orders of the shared steps, one per class; half the classes put step 0 before step 1, so
    /// `order_label` is balanced (a free draw gave 8 of 10 "before" on one benchmark, and every probe sat at the majority).</summary>
    private static int[][] Recipes(RecipeBenchmarkSpec spec)
    {
        var rng = DeterministicRandom.Derive(spec.Seed, "recipes", 0);
        var seen = new HashSet<string>();
        var result = new List<int[]>();
        int before = 0, after = 0;
        while (result.Count < spec.Classes)
        {
            var order = Enumerable.Range(0, spec.Steps).ToArray();
            rng.Shuffle(order);
            var isBefore = Array.IndexOf(order, 0) < Array.IndexOf(order, 1);
            if (isBefore ? before >= (spec.Classes + 1) / 2 : after >= spec.Classes / 2) continue;
            if (!seen.Add(string.Join(",", order))) continue;
            result.Add(order);
            if (isBefore) before++; else after++;
        }
        return result.ToArray();
    }

    /// <summary>Each step type's two alternating symbols: distinct unordered pairs of the alphabet.</summary>
    private static (int A, int B)[] SymbolPairs(RecipeBenchmarkSpec spec, int stepTypes)
    {
        if (spec.Rendering == StepRendering.Prototype) return [];
        var all = new List<(int, int)>();
        for (var a = 0; a < spec.Alphabet; a++)
            for (var b = a + 1; b < spec.Alphabet; b++) all.Add((a, b));
        DeterministicRandom.Derive(spec.Seed, "pairs", 0).Shuffle(all);
        return all.Take(stepTypes).ToArray();
    }
}
