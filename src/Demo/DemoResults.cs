using LvMae.Contracts;
using LvMae.Grains.Training;
using LvMae.Runs;

namespace LvMae.Demo;

/// <summary>A label column of the corpus as the demo probes it.</summary>
/// <param name="Kind">"classification" or "regression".</param>
/// <param name="Chance">Expected chance under the generating distribution (regression: the target's std, seconds).</param>
public sealed record LabelColumn(string Column, string Kind, IReadOnlyList<string> Classes, double Chance, bool BagSolvable)
{
    public bool IsRegression => Kind == "regression";
}

/// <summary>One cell of the table: a probe's held-out score on one column, mean and sd over <see cref="Seeds"/> seeds: probe
/// seeds for the majority and raw rows, pre-training seeds for LV-MAE rows of several runs (each run's figure its probe-seed mean).</summary>
/// <param name="Top1">Mean held-out top-1 accuracy (classification).</param>
/// <param name="Mse">Mean held-out MSE in seconds² (regression).</param>
public sealed record ProbeCell(string Column, double? Top1, double? Top1Std, double? Mse, double? MseStd, int Seeds)
{
    public double? Rmse => Mse is { } m ? Math.Sqrt(m) : null;
}

/// <summary>One row of the table: features (the majority baseline, raw embeddings or an LV-MAE run) x probe.</summary>
/// <param name="Features">"majority", "raw", "lv-mae@0" (the run's model untrained) or "lv-mae".</param>
/// <param name="Masking">The LV-MAE run's pre-training masking; null otherwise.</param>
/// <param name="Probe">"baseline", "linear", "attentive" (no positions, as the paper runs it on raw embeddings), "attentive+pos" or "regression".</param>
public sealed record ProbeRow(string Features, string? Masking, string Probe, IReadOnlyList<ProbeCell> Cells)
{
    public string Name => Features switch
    {
        ProbeScore.Majority => "majority baseline",
        ProbeScore.Raw => $"raw embeddings, {Probe}",
        ProbeScore.Untrained => $"LV-MAE ({Masking} masking) untrained (step 0), {Probe}",
        _ => $"LV-MAE ({Masking} masking), {Probe}",
    };

    public ProbeCell? Cell(string column) => Cells.FirstOrDefault(c => c.Column == column);
}

/// <summary>Pre-training loss curve of one run (from its metrics.jsonl).</summary>
public sealed record TrainingCurve(string Masking, long[] Steps, double[] Loss, TimeSpan Elapsed)
{
    public double StepsPerSecond => Elapsed.TotalSeconds > 0 ? Steps.Length / Elapsed.TotalSeconds : 0;
    /// <summary>Mean loss of the first and last 10% of the steps.</summary>
    public (double First, double Last) Ends()
    {
        if (Loss.Length == 0) return (double.NaN, double.NaN);
        var n = Math.Max(1, Loss.Length / 10);
        return (Loss.Take(n).Average(), Loss.Skip(Loss.Length - n).Average());
    }
}

/// <summary>One pre-training of the demo: a training run of the product (its name, schedule, export).</summary>
public sealed record DemoRun(string Masking, string Run, string Schedule, long Steps, string? Device, ExportInfo? Export, int? Seed = null);

/// <summary>One LV-MAE probe of one run against one baseline (see <see cref="ProbeVerdict"/>).</summary>
public sealed record DemoClaim(string Masking, ProbeComparison Comparison);

/// <summary>One masked segment of a test video: its true step and the captions retrieved for the original embedding
/// and for the reconstruction.</summary>
public sealed record RetrievalExample(string VideoId, int Position, string TrueStep, IReadOnlyList<string> OriginalTop, IReadOnlyList<string> ReconstructedTop, double Cosine);

/// <summary>Caption retrieval for one LV-MAE model over every masked segment of the test videos.</summary>
/// <param name="ReconstructionHit">Share of masked segments whose reconstruction's top caption is the true step.</param>
/// <param name="OriginalHit">The same for the original embedding (the caption database's own ceiling).</param>
/// <param name="Chance">1 / number of captions.</param>
public sealed record RetrievalSummary(string Masking, int Videos, int MaskedSegments, double ReconstructionHit, double OriginalHit, double Chance, int Captions, IReadOnlyList<RetrievalExample> Examples)
{
    /// <summary>The pre-training seed of the model (one summary per seed; the report shows mean ± sd over them).</summary>
    public int? PretrainingSeed { get; init; }
    /// <summary>Diagnostic: the same retrieval for a model-free reconstruction that copies the nearest visible segment
    /// (ties: the earlier one). Shows how much a reconstruction could get from context alone.</summary>
    public double? NeighbourCopyHit { get; init; }
    /// <summary>Mean cosine between the original and the model's reconstruction over the masked segments.</summary>
    public double? ReconstructionCosine { get; init; }
    /// <summary>Mean cosine between the original and the nearest visible segment (the copy baseline).</summary>
    public double? NeighbourCopyCosine { get; init; }
    /// <summary>Mean cosine between the original and the mean training embedding (what a context-blind model can do).</summary>
    public double? MeanEmbeddingCosine { get; init; }
    /// <summary>The same retrievals with queries and captions centred on the training mean (<see cref="DemoRetrieval.CentredCaptions"/>).</summary>
    public CentredRetrieval? Centred { get; init; }
    /// <summary>Where the misses go: the share that retrieve the caption nearest the corpus mean.</summary>
    public RetrievalMisses? Misses { get; init; }
}

/// <summary>Top-1 hit rates with queries and captions centred on the training split's mean embedding.</summary>
public sealed record CentredRetrieval(double OriginalHit, double ReconstructionHit, double NeighbourCopyHit);

/// <summary>Of the wrong top-1 captions (uncentred), the share that are <paramref name="CentralCaption"/>, the caption
/// nearest the mean embedding, where a reconstruction shrunk towards the mean (what MSE predicts when unsure) would land.</summary>
public sealed record RetrievalMisses(string CentralCaption, double ReconstructionMissesOnCentral, double CopyMissesOnCentral);

/// <summary>Wall time of one phase of the demo, and the CPU time this process and its finished child processes (ffmpeg)
/// spent in it: on a busy shared machine the CPU time says what the phase costs on idle cores (wall ~ CPU / cores used).</summary>
public sealed record PhaseTiming(string Phase, TimeSpan Elapsed, string? Detail = null, TimeSpan? Cpu = null);

/// <summary>What the run was: corpus, encoder, model, machine.</summary>
public sealed record DemoSetup(
    string CorpusName, string Fingerprint, int Videos, int TrainVideos, int TestVideos, int Segments, double Hours,
    string Encoder, int Dimension, string Preset, long Steps, int BatchSize, string Schedule, int ProbeSeeds,
    string ProbeSettings, string Machine, bool Quick, bool PretrainedOnHeldOut = false)
{
    public int ValVideos { get; init; }
    /// <summary>Videos of the <c>pretrain</c> split: pre-trained on, never probed.</summary>
    public int PretrainVideos { get; init; }
    /// <summary>Pre-training runs per masking (LV-MAE rows: mean ± sd over them).</summary>
    public int PretrainingSeeds { get; init; } = 1;
}

/// <summary>The outcome of a demo run.</summary>
public sealed record DemoResult(
    DemoSetup Setup,
    IReadOnlyList<LabelColumn> Columns,
    IReadOnlyList<ProbeRow> Rows,
    IReadOnlyList<DemoClaim> Claims,
    IReadOnlyList<DemoRun> Runs,
    IReadOnlyList<TrainingCurve> Curves,
    IReadOnlyList<RetrievalSummary> Retrieval,
    IReadOnlyList<PhaseTiming> Timings,
    IReadOnlyList<string> Notes)
{
    /// <summary>Set once the report is written: report.md and the PNG plots.</summary>
    public IReadOnlyList<string> ReportFiles { get; init; } = [];
    public TimeSpan Total => Timings.Aggregate(TimeSpan.Zero, (a, t) => a + t.Elapsed);
}
