namespace LvMae.Demo;

/// <summary>A label column of the corpus as the demo probes it.</summary>
/// <param name="Kind">"classification" or "regression".</param>
/// <param name="Chance">Expected chance under the generating distribution (regression: the target's std, seconds).</param>
/// <param name="MajorityBaseline">What a useless probe scores on this test split (classification: accuracy of the most
/// frequent train class; regression: RMSE of the train mean, seconds).</param>
public sealed record LabelColumn(string Column, string Kind, IReadOnlyList<string> Classes, double Chance, double MajorityBaseline, bool BagSolvable)
{
    public bool IsRegression => Kind == "regression";
}

/// <summary>One cell of the table: a probe's held-out score on one column, over <see cref="Seeds"/> probe seeds.</summary>
/// <param name="Top1">Mean held-out top-1 accuracy (classification).</param>
/// <param name="Top1Std">Standard deviation of the accuracy over the probe seeds (0 with one seed).</param>
/// <param name="Mse">Mean held-out MSE in seconds² (regression).</param>
public sealed record ProbeCell(string Column, double? Top1, double? Top1Std, double? Mse, int Seeds)
{
    public double? Rmse => Mse is { } m ? Math.Sqrt(m) : null;
}

/// <summary>One row of the table: features (raw embeddings or an LV-MAE model) x probe.</summary>
/// <param name="Features">"raw" or "lv-mae".</param>
/// <param name="Masking">The LV-MAE model's pre-training masking; null for raw embeddings.</param>
/// <param name="Probe">"linear", "attentive" (no positions, as the paper runs it on raw embeddings) or "attentive+pos".</param>
public sealed record ProbeRow(string Features, string? Masking, string Probe, IReadOnlyList<ProbeCell> Cells)
{
    public string Name => Masking is null ? $"raw embeddings, {Probe}" : $"LV-MAE ({Masking} masking), {Probe}";
    public ProbeCell? Cell(string column) => Cells.FirstOrDefault(c => c.Column == column);
}

/// <summary>Pre-training loss curve of one masking strategy.</summary>
public sealed record TrainingCurve(string Masking, long[] Steps, double[] Loss, TimeSpan Elapsed, long Tokens)
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

/// <summary>One masked segment of a test video: its true step and the captions retrieved for the original embedding
/// and for the reconstruction.</summary>
public sealed record RetrievalExample(string VideoId, int Position, string TrueStep, IReadOnlyList<string> OriginalTop, IReadOnlyList<string> ReconstructedTop, double Cosine);

/// <summary>Caption retrieval for one LV-MAE model over every masked segment of the test videos.</summary>
/// <param name="ReconstructionHit">Share of masked segments whose reconstruction's top caption is the true step.</param>
/// <param name="OriginalHit">The same for the original embedding (the caption database's own ceiling).</param>
/// <param name="Chance">1 / number of captions.</param>
public sealed record RetrievalSummary(string Masking, int Videos, int MaskedSegments, double ReconstructionHit, double OriginalHit, double Chance, int Captions, IReadOnlyList<RetrievalExample> Examples)
{
    /// <summary>Diagnostic: the same retrieval for a model-free reconstruction that copies the nearest visible segment
    /// (ties: the earlier one). Shows how much a reconstruction could get from context alone.</summary>
    public double? NeighbourCopyHit { get; init; }
    /// <summary>Mean cosine between the original and the model's reconstruction over the masked segments.</summary>
    public double? ReconstructionCosine { get; init; }
    /// <summary>Mean cosine between the original and the nearest visible segment (the copy baseline).</summary>
    public double? NeighbourCopyCosine { get; init; }
    /// <summary>Mean cosine between the original and the mean training embedding (what a context-blind model can do).</summary>
    public double? MeanEmbeddingCosine { get; init; }
}

/// <summary>Wall time of one phase of the demo, and the CPU time this process and its finished child processes (ffmpeg)
/// spent in it: on a busy shared machine the CPU time says what the phase costs on idle cores (wall ~ CPU / cores used).</summary>
public sealed record PhaseTiming(string Phase, TimeSpan Elapsed, string? Detail = null, TimeSpan? Cpu = null);

/// <summary>What the run was: corpus, encoder, model, machine.</summary>
public sealed record DemoSetup(
    string CorpusName, string Fingerprint, int Videos, int TrainVideos, int TestVideos, int Segments, double Hours,
    string Encoder, int Dimension, string Preset, long Steps, int BatchSize, double LearningRate, int ProbeSeeds,
    string ProbeSettings, string Machine, bool Quick);

/// <summary>The outcome of a demo run.</summary>
public sealed record DemoResult(
    DemoSetup Setup,
    IReadOnlyList<LabelColumn> Columns,
    IReadOnlyList<ProbeRow> Rows,
    IReadOnlyList<TrainingCurve> Curves,
    IReadOnlyList<RetrievalSummary> Retrieval,
    IReadOnlyList<PhaseTiming> Timings,
    IReadOnlyList<string> Notes)
{
    /// <summary>Set once the report is written: report.md and the PNG plots.</summary>
    public IReadOnlyList<string> ReportFiles { get; init; } = [];
    public TimeSpan Total => Timings.Aggregate(TimeSpan.Zero, (a, t) => a + t.Elapsed);
}
