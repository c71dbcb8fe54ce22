using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LvMae.Formats;

namespace LvMae.Corpus;

/// <summary>One step occurrence in a video's timeline: [StartSeconds, EndSeconds), frames [StartFrame, EndFrame).</summary>
/// <param name="Index">Position in the video, from 0.</param>
/// <param name="Step">The step type's name (<see cref="StepCatalog"/>).</param>
/// <param name="SourceSeed">Seed of the stochastic lavfi source (life, cellauto, gradients, ...) for this occurrence.</param>
public sealed record StepOccurrence(int Index, string Step, double StartSeconds, double EndSeconds, int StartFrame, int EndFrame, int SourceSeed)
{
    [JsonIgnore] public double DurationSeconds => EndSeconds - StartSeconds;
    [JsonIgnore] public int FrameCount => EndFrame - StartFrame;
}

/// <summary>Per-video appearance jitter applied after the steps are concatenated (ffmpeg hue, eq, noise).</summary>
public sealed record VideoJitter(double HueDegrees, double Saturation, double Brightness, double Contrast, int Noise, int NoiseSeed);

/// <summary>The ground truth of one time span (typically one 5 s segment): its dominant step and how pure it is.</summary>
/// <param name="Step">The step covering most of the span.</param>
/// <param name="Purity">Fraction of the span covered by <paramref name="Step"/> (1 = the span lies inside one step).</param>
public sealed record SegmentTruth(int Index, double StartSeconds, double EndSeconds, string Step, double Purity)
{
    /// <summary>True when the span does not straddle a step boundary.</summary>
    [JsonIgnore] public bool IsPure => Purity >= 1 - 1e-9;
}

/// <summary>An activity class: the directed cycle of core steps its videos walk once (from a random start).</summary>
/// <param name="Stride">Core step i is followed by core step (i + Stride) mod K.</param>
/// <param name="Cycle">The cycle written from the first core step.</param>
public sealed record ActivityClass(string Name, int Stride, IReadOnlyList<string> Cycle);

/// <summary>A label column of labels.csv, what it measures, and the level a probe must beat.</summary>
/// <param name="Column">Column name in labels.csv.</param>
/// <param name="Kind">"classification" or "regression".</param>
/// <param name="Classes">The class values (classification), in a fixed order; empty for regression.</param>
/// <param name="ExpectedChance">Classification: the accuracy of always predicting the most probable class under the
/// generating distribution (for balanced classes 1/#classes). Regression: the standard deviation of the target
/// under the generated corpus (the RMSE of predicting the mean).</param>
/// <param name="MajorityBaseline">Classification: test accuracy of predicting the most frequent train class.
/// Regression: test RMSE of predicting the train mean. This is what a useless probe scores on this corpus.</param>
/// <param name="BagOfSegmentsSolvable">False when the label is, by construction, independent of the bag of segments
/// (so mean pooling of raw segment embeddings scores chance and only order-aware models can beat it).</param>
/// <param name="Measures">What a model must capture to predict it.</param>
public sealed record LabelDefinition(
    string Column, string Kind, IReadOnlyList<string> Classes, double ExpectedChance, double MajorityBaseline,
    bool BagOfSegmentsSolvable, string Measures);

/// <summary>One generated video with its labels and step timeline.</summary>
/// <param name="Rotation">Index in the activity's cycle of the first core step (the random start).</param>
/// <param name="InterruptedStep">The core step interrupted by a distractor and resumed (X, D, X), or null.</param>
/// <param name="KeyStepSeconds">Total seconds of the spec's key step (the regression target).</param>
public sealed record CorpusVideo(
    string VideoId,
    string FileName,
    string Activity,
    string FirstStep,
    int NumSteps,
    double KeyStepSeconds,
    string Split,
    double DurationSeconds,
    int FrameCount,
    int Rotation,
    string? InterruptedStep,
    VideoJitter Jitter,
    IReadOnlyList<StepOccurrence> Steps)
{
    /// <summary>The step occurrence showing at <paramref name="seconds"/> (the last one for t = duration), or null outside the video.</summary>
    public StepOccurrence? StepAt(double seconds)
    {
        if (Steps.Count == 0 || seconds < 0 || seconds > DurationSeconds) return null;
        foreach (var step in Steps)
            if (seconds < step.EndSeconds) return step;
        return Steps[^1];
    }

    /// <summary>The dominant step of [startSeconds, endSeconds) and the fraction of the span it covers.</summary>
    public SegmentTruth Truth(int index, double startSeconds, double endSeconds)
    {
        if (!(endSeconds > startSeconds))
            throw new ArgumentException($"Empty span [{startSeconds}, {endSeconds}).");
        var cover = new Dictionary<string, double>();
        foreach (var step in Steps)
        {
            double overlap = Math.Min(endSeconds, step.EndSeconds) - Math.Max(startSeconds, step.StartSeconds);
            if (overlap > 0) cover[step.Step] = cover.GetValueOrDefault(step.Step) + overlap;
        }
        if (cover.Count == 0)
            throw new ArgumentOutOfRangeException(nameof(startSeconds), $"[{startSeconds}, {endSeconds}) is outside {VideoId} (0..{DurationSeconds} s).");
        var best = cover.MaxBy(kv => kv.Value);
        double span = Math.Min(endSeconds, DurationSeconds) - Math.Max(startSeconds, 0);
        return new SegmentTruth(index, startSeconds, endSeconds, best.Key, Math.Min(1.0, best.Value / span));
    }

    /// <summary>
    /// The true step of each consecutive segment [i x segmentSeconds, (i + 1) x segmentSeconds), the last partial
    /// segment kept when at least <paramref name="minLastSegmentSeconds"/> long (the media segmentation's rule).
    /// </summary>
    public IReadOnlyList<SegmentTruth> SegmentSteps(double segmentSeconds = 5.0, double minLastSegmentSeconds = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(segmentSeconds);
        var result = new List<SegmentTruth>();
        const double eps = 1e-9;
        for (int i = 0; ; i++)
        {
            double start = i * segmentSeconds;
            if (start >= DurationSeconds - eps) break;
            double end = Math.Min(start + segmentSeconds, DurationSeconds);
            if (end - start < segmentSeconds - eps && end - start < minLastSegmentSeconds - eps) break;
            result.Add(Truth(i, start, end));
        }
        return result;
    }
}

/// <summary>
/// A generated (or planned) corpus: the spec, the step catalogue used, the activity classes, the label
/// definitions with their chance levels, and every video's labels and timeline. Saved as
/// <c>timelines.json</c> beside <c>labels.csv</c> and the <c>&lt;videoId&gt;.mp4</c> files.
/// </summary>
/// <param name="Fingerprint">SHA-256 of the spec and the timelines: equal fingerprints mean equal corpora (up to encoder bytes).</param>
public sealed record CorpusManifest(
    string Format,
    string Fingerprint,
    CorpusSpec Spec,
    IReadOnlyList<StepType> StepTypes,
    IReadOnlyList<ActivityClass> Activities,
    IReadOnlyList<LabelDefinition> Labels,
    IReadOnlyList<CorpusVideo> Videos)
{
    public const string FormatName = "lvmae-synthetic-corpus/1";
    public const string ManifestFileName = "timelines.json";
    public const string LabelsFileName = "labels.csv";

    /// <summary>The labels.csv columns, in order.</summary>
    public static IReadOnlyList<string> LabelsCsvColumns { get; } =
        ["videoId", "activity", "first_step", "num_steps", "key_step_seconds", "split"];

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    private Dictionary<string, CorpusVideo>? _byId;

    /// <summary>The video with this id; throws <see cref="KeyNotFoundException"/> naming it otherwise.</summary>
    public CorpusVideo Video(string videoId)
    {
        _byId ??= Videos.ToDictionary(v => v.VideoId, StringComparer.Ordinal);
        return _byId.TryGetValue(videoId, out var v) ? v
            : throw new KeyNotFoundException($"Video '{videoId}' is not in the corpus.");
    }

    /// <summary>The name of the step showing at <paramref name="seconds"/> in the video, or null outside it.</summary>
    public string? StepAt(string videoId, double seconds) => Video(videoId).StepAt(seconds)?.Step;

    /// <summary>The true step of each 5 s (or <paramref name="segmentSeconds"/>) segment of the video.</summary>
    public IReadOnlyList<SegmentTruth> SegmentSteps(string videoId, double segmentSeconds = 5.0, double minLastSegmentSeconds = 1.0) =>
        Video(videoId).SegmentSteps(segmentSeconds, minLastSegmentSeconds);

    /// <summary>The label definition of a labels.csv column.</summary>
    public LabelDefinition Label(string column) =>
        Labels.FirstOrDefault(l => l.Column == column) ?? throw new KeyNotFoundException($"No label column '{column}'.");

    /// <summary>Caption of each step type (ground-truth captions for retrieval).</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, string> Captions => StepTypes.ToDictionary(s => s.Name, s => s.Caption);

    /// <summary>The manifest as JSON (deterministic for a given spec).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>labels.csv text: a header and one row per video, invariant culture.</summary>
    public string ToLabelsCsv() => Encoding.UTF8.GetString(CsvFile.ToBytes(
    [
        LabelsCsvColumns,
        .. Videos.Select(v => (IReadOnlyList<string>)[v.VideoId, v.Activity, v.FirstStep, v.NumSteps.ToString(CultureInfo.InvariantCulture),
            v.KeyStepSeconds.ToString("0.###", CultureInfo.InvariantCulture), v.Split]),
    ]));

    /// <summary>Writes timelines.json and labels.csv into <paramref name="directory"/> (atomically, each via a temp file).</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        WriteAtomic(Path.Combine(directory, ManifestFileName), ToJson());
        WriteAtomic(Path.Combine(directory, LabelsFileName), ToLabelsCsv());
    }

    /// <summary>Reads <c>timelines.json</c> from a corpus directory (or the file itself).</summary>
    public static CorpusManifest Load(string directoryOrFile)
    {
        string path = Directory.Exists(directoryOrFile) ? Path.Combine(directoryOrFile, ManifestFileName) : directoryOrFile;
        if (!File.Exists(path))
            throw new FileNotFoundException($"No corpus manifest at {path}: generate the corpus first.", path);
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Parses a manifest; <paramref name="source"/> names it in errors.</summary>
    public static CorpusManifest FromJson(string json, string source = "manifest")
    {
        CorpusManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<CorpusManifest>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a corpus manifest ({e.Message}).", e);
        }
        if (manifest is null || manifest.Format != FormatName || manifest.Videos is null || manifest.Spec is null)
            throw new InvalidDataException($"{source}: not a {FormatName} manifest.");
        return manifest;
    }

    /// <summary>The path of a video's file in a corpus directory.</summary>
    public string VideoPath(string directory, string videoId) => Path.Combine(directory, Video(videoId).FileName);

    internal static void WriteAtomic(string path, string text)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, text, new UTF8Encoding(false));
        File.Move(tmp, path, overwrite: true);
    }
}
