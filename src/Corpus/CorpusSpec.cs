using System.Text.Json.Serialization;

namespace LvMae.Corpus;

/// <summary>
/// Everything that determines a synthetic corpus. The same spec (in particular the same
/// <see cref="Seed"/>) always gives the same labels and the same step timelines; only
/// <see cref="Parallelism"/> does not affect the content.
/// </summary>
/// <remarks>
/// <para><b>Design.</b> Every activity class is a directed <i>cycle</i> over the same
/// <see cref="CoreSteps"/>: activity with stride s follows core step i by core step (i + s) mod K.
/// Strides coprime with K give Hamiltonian cycles that share no directed transition, so any one
/// observed "A then B" identifies the class, while the multiset of steps does not. Each video walks its
/// class's cycle once from a uniformly random start (so the first step carries no class signal), may
/// have one step interrupted by a distractor and resumed (X, D, X), and gets 0..<see cref="MaxDistractors"/>
/// further distractor steps inserted between core steps. Every occurrence's duration is drawn
/// independently of everything else. Hence the bag of (step, duration) occurrences has the same
/// distribution for every class: a model that ignores order is at chance on <c>activity</c> and
/// <c>first_step</c> by construction.</para>
/// <para>With <see cref="AlignStepsToSegments"/> every step lasts a whole number of
/// <see cref="SegmentSeconds"/> segments, so no segment mixes two steps: a mixed segment's embedding
/// would tell a bag-of-segments model which steps are adjacent (a bigram) and leak the class.</para>
/// </remarks>
public sealed record CorpusSpec
{
    /// <summary>Master seed of labels, timelines, jitter and source seeds.</summary>
    public long Seed { get; init; } = 20250;

    /// <summary>Number of videos; activities are balanced (counts differ by at most one).</summary>
    public int VideoCount { get; init; } = 120;

    /// <summary>The K steps every activity contains once, in its own cyclic order.</summary>
    public IReadOnlyList<string> CoreSteps { get; init; } = ["bars", "fractal", "life", "automaton", "testcard"];

    /// <summary>Steps inserted independently of the class (interruptions and extra steps).</summary>
    public IReadOnlyList<string> DistractorSteps { get; init; } = ["gradient", "ramps", "waves"];

    /// <summary>Number of activity classes, at most the number of strides in 1..K-1 coprime with K (4 for K = 5).</summary>
    public int ActivityCount { get; init; } = 4;

    /// <summary>Shortest step occurrence, in segments (with alignment) or in multiples of <see cref="SegmentSeconds"/>.</summary>
    public int MinStepSegments { get; init; } = 3;

    /// <summary>Longest step occurrence, in segments.</summary>
    public int MaxStepSegments { get; init; } = 5;

    /// <summary>Probability that one (uniformly chosen) core step is interrupted by a distractor and resumed.</summary>
    public double InterruptionProbability { get; init; } = 0.5;

    /// <summary>Extra distractor steps per video, uniform in 0..MaxDistractors, at random gaps after the first step.</summary>
    public int MaxDistractors { get; init; } = 2;

    /// <summary>The core step whose total on-screen seconds is the regression target <c>key_step_seconds</c>.</summary>
    public string KeyStep { get; init; } = "fractal";

    /// <summary>The segment length of the method (5 s): step boundaries fall on multiples of it when aligned.</summary>
    public double SegmentSeconds { get; init; } = 5.0;

    /// <summary>Step durations are whole segments (no segment straddles a step boundary). See remarks.</summary>
    public bool AlignStepsToSegments { get; init; } = true;

    public int Width { get; init; } = 160;
    public int Height { get; init; } = 120;

    /// <summary>Frames per second; SegmentSeconds x FrameRate must be a whole number of frames.</summary>
    public int FrameRate { get; init; } = 8;

    /// <summary>Fraction of each activity's videos in the test split.</summary>
    public double TestFraction { get; init; } = 0.25;

    /// <summary>Fraction of each activity's videos in the val split (settings are chosen there, never on test); 0 = none.</summary>
    public double ValFraction { get; init; }

    /// <summary>Fraction of each activity's videos in the <c>pretrain</c> split: pre-training only, never probed (a real
    /// corpus's unlabelled majority); 0 = none. Carved out of train, after test and val.</summary>
    public double PretrainFraction { get; init; }

    /// <summary>Per-video hue shift, uniform in +-this many degrees.</summary>
    public double HueJitterDegrees { get; init; } = 15;

    /// <summary>Per-video saturation/contrast factors, uniform in 1 +- this.</summary>
    public double ColourJitter { get; init; } = 0.12;

    /// <summary>Per-video brightness offset, uniform in +- this (eq filter units, -1..1).</summary>
    public double BrightnessJitter { get; init; } = 0.05;

    /// <summary>Per-video temporal noise strength (ffmpeg noise filter, 0..100), uniform in [min, max].</summary>
    public int MinNoise { get; init; } = 3;
    public int MaxNoise { get; init; } = 9;

    /// <summary>libx264 constant rate factor.</summary>
    public int Crf { get; init; } = 30;

    /// <summary>libx264 preset.</summary>
    public string Preset { get; init; } = "ultrafast";

    /// <summary>Concurrent ffmpeg processes (each single-threaded). Does not change the content.</summary>
    [JsonIgnore]
    public int Parallelism { get; init; } = 2;

    /// <summary>About 120 videos of 75-225 s (mean about 140 s), 160x120 at 8 fps.</summary>
    public static CorpusSpec Default { get; } = new();

    /// <summary>
    /// The default demo's corpus: 240 videos of 10-20 s steps (about 100 s each): 80 train, 80 pretrain (unlabelled for the
    /// model: pre-training only), 24 val (for choosing settings), 56 test (one video = 1.8 points of accuracy). With the 80
    /// train videos alone the model overfits them and first_step falls below its step 0 (docs/DEMO-RESULTS.md).
    /// </summary>
    public static CorpusSpec Demo { get; } = new()
    {
        VideoCount = 240,
        MinStepSegments = 2,
        MaxStepSegments = 4,
        TestFraction = 0.2333,
        ValFraction = 0.1,
        PretrainFraction = 0.3333,
    };

    /// <summary>24 short videos (50-105 s) for the end-to-end demo: minutes of ingestion, not hours.</summary>
    public static CorpusSpec Quick { get; } = new()
    {
        VideoCount = 24,
        MinStepSegments = 2,
        MaxStepSegments = 3,
        MaxDistractors = 1,
    };

    /// <summary>Frames in one segment.</summary>
    [JsonIgnore]
    public int FramesPerSegment => (int)Math.Round(SegmentSeconds * FrameRate);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent setting.</summary>
    public void Validate()
    {
        void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException($"Invalid corpus spec: {message}");
        }

        Require(VideoCount >= 1, "VideoCount must be at least 1.");
        Require(CoreSteps.Count >= 3, "at least 3 core steps are needed for order to matter.");
        Require(CoreSteps.Distinct().Count() == CoreSteps.Count, "core steps must be distinct.");
        Require(DistractorSteps.Distinct().Count() == DistractorSteps.Count, "distractor steps must be distinct.");
        Require(!CoreSteps.Intersect(DistractorSteps).Any(), "a step cannot be both core and distractor.");
        foreach (var step in CoreSteps.Concat(DistractorSteps))
            Require(StepCatalog.All.Any(s => s.Name == step), $"unknown step type '{step}'.");
        int strides = ActivityPlan.Strides(CoreSteps.Count).Count;
        Require(ActivityCount >= 2 && ActivityCount <= strides,
            $"ActivityCount must be in 2..{strides} for {CoreSteps.Count} core steps (strides coprime with K).");
        Require(MinStepSegments >= 1 && MaxStepSegments >= MinStepSegments, "need 1 <= MinStepSegments <= MaxStepSegments.");
        Require(InterruptionProbability is >= 0 and <= 1, "InterruptionProbability must be in [0, 1].");
        Require(MaxDistractors >= 0 && MaxDistractors <= CoreSteps.Count, "MaxDistractors must be in 0..K (one per gap between core steps).");
        Require(DistractorSteps.Count > 0 || (MaxDistractors == 0 && InterruptionProbability == 0),
            "distractors or interruptions need at least one distractor step.");
        Require(CoreSteps.Contains(KeyStep), "KeyStep must be one of the core steps.");
        Require(SegmentSeconds > 0, "SegmentSeconds must be positive.");
        Require(FrameRate is >= 1 and <= 60, "FrameRate must be in 1..60.");
        Require(Math.Abs(SegmentSeconds * FrameRate - FramesPerSegment) < 1e-9, "SegmentSeconds x FrameRate must be a whole number of frames.");
        Require(Width is >= 32 and <= 1920 && Height is >= 32 and <= 1080 && Width % 2 == 0 && Height % 2 == 0,
            "Width/Height must be even and within 32..1920 x 32..1080.");
        Require(TestFraction is >= 0 and < 1, "TestFraction must be in [0, 1).");
        Require(ValFraction >= 0 && TestFraction + ValFraction < 1, "ValFraction must be >= 0 and leave train videos (TestFraction + ValFraction < 1).");
        Require(PretrainFraction >= 0 && TestFraction + ValFraction + PretrainFraction < 1,
            "PretrainFraction must be >= 0 and leave train videos (TestFraction + ValFraction + PretrainFraction < 1).");
        Require(HueJitterDegrees is >= 0 and <= 180, "HueJitterDegrees must be in [0, 180].");
        Require(ColourJitter is >= 0 and < 1, "ColourJitter must be in [0, 1).");
        Require(BrightnessJitter is >= 0 and <= 0.5, "BrightnessJitter must be in [0, 0.5].");
        Require(MinNoise >= 0 && MaxNoise >= MinNoise && MaxNoise <= 100, "need 0 <= MinNoise <= MaxNoise <= 100.");
        Require(Crf is >= 0 and <= 51, "Crf must be in 0..51.");
        Require(!string.IsNullOrWhiteSpace(Preset), "Preset must be set.");
        Require(Parallelism >= 1, "Parallelism must be at least 1.");
    }
}
