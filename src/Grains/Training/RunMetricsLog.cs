using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs.Specialized;
using LvMae.Contracts;
using LvMae.Storage;

namespace LvMae.Grains.Training;

/// <summary>
/// A run's metrics.jsonl (an append blob): lines are buffered in memory and appended in one block per flush, because
/// an append blob takes at most 50,000 appends (one flush every 30 s = 400 h of training). Appends happen one after
/// another; a failed append keeps its lines for the next flush.
/// </summary>
public sealed class RunMetricsLog(BlobStore blobs, string run)
{
    private const int MaxAppendBytes = 4 << 20; // an append block is at most 4 MiB
    private readonly List<string> _lines = [];
    private Task _appending = Task.CompletedTask;

    public int Buffered => _lines.Count;
    public DateTimeOffset LastFlush { get; private set; } = DateTimeOffset.MinValue;

    public void Add(JsonObject line) => _lines.Add(line.ToJsonString());

    public void Step(StepEvent step) => Add(new JsonObject
    {
        ["step"] = step.Result.Step, ["epoch"] = step.Epoch, ["loss"] = step.Result.Loss, ["lr"] = step.Result.LearningRate,
        ["tokens"] = step.Result.Tokens, ["tokens_per_s"] = Math.Round(step.TokensPerSecond, 1),
        ["step_ms"] = Math.Round(step.Result.Elapsed.TotalMilliseconds, 2), ["time"] = DateTimeOffset.UtcNow.ToString("O"),
    });

    public void Probe(ProbeScore s) => Add(new JsonObject
    {
        ["probe"] = $"{s.Column}/{s.Features}/{s.Probe}", ["step"] = s.Step, ["top1"] = s.Top1, ["top1_sd"] = s.Top1Sd, ["mse"] = s.Mse,
        ["mse_sd"] = s.MseSd, ["val_top1"] = s.ValTop1, ["seeds"] = s.Seeds, ["train"] = s.Train, ["test"] = s.Test, ["val"] = s.Val, ["classes"] = s.Classes,
    });

    /// <summary>Appends the buffered lines (after any append still running).</summary>
    public Task FlushAsync()
    {
        LastFlush = DateTimeOffset.UtcNow;
        if (_lines.Count == 0) return _appending;
        var text = string.Join("\n", _lines) + "\n";
        var count = _lines.Count;
        _lines.Clear();
        var previous = _appending;
        return _appending = AppendAfterAsync(previous, text, count);
    }

    private async Task AppendAfterAsync(Task previous, string text, int count)
    {
        try { await previous; } catch (Exception) { /* observed by its own caller */ }
        try { await AppendAsync(text); }
        catch
        {
            _lines.InsertRange(0, text.TrimEnd('\n').Split('\n').Take(count)); // keep them for the next flush
            throw;
        }
    }

    private async Task AppendAsync(string text)
    {
        await blobs.EnsureContainerAsync();
        var blob = blobs.Container.GetAppendBlobClient(BlobLayout.RunMetrics(run));
        await blob.CreateIfNotExistsAsync();
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var offset = 0; offset < bytes.Length; offset += MaxAppendBytes)
        {
            using var chunk = new MemoryStream(bytes, offset, Math.Min(MaxAppendBytes, bytes.Length - offset));
            await blob.AppendBlockAsync(chunk);
        }
    }

    /// <summary>The run's history as stored (empty when nothing was written yet).</summary>
    public async Task<RunHistory> ReadAsync(CancellationToken cancellationToken = default) =>
        RunHistory.Parse(await blobs.TryDownloadAsync(BlobLayout.RunMetrics(run), cancellationToken) is { } bytes ? Encoding.UTF8.GetString(bytes) : "");
}

/// <summary>One training step as logged.</summary>
public sealed record StepPoint(long Step, long Epoch, double Loss, double Lr, double TokensPerSecond);

/// <summary>One probe score as logged.</summary>
public sealed record ProbePoint(long Step, string Key, double? Top1, double? Top1Sd, double? Mse, int Seeds);

/// <summary>
/// A run's metrics.jsonl parsed: the last line per step wins (a resumed run re-logs the steps after its checkpoint),
/// probe lines by (key, step), unparseable lines skipped.
/// </summary>
public sealed record RunHistory(IReadOnlyList<StepPoint> Steps, IReadOnlyList<ProbePoint> Probes)
{
    public static RunHistory Parse(string text)
    {
        var steps = new SortedDictionary<long, StepPoint>();
        var probes = new Dictionary<(string, long), ProbePoint>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            JsonObject? o;
            try { o = JsonNode.Parse(line) as JsonObject; } catch (JsonException) { continue; }
            if (o?["step"] is not { } stepNode || !TryLong(stepNode, out var step)) continue;
            if (o["loss"] is { } loss)
                steps[step] = new StepPoint(step, o["epoch"] is { } e && TryLong(e, out var epoch) ? epoch : 0, Number(loss) ?? double.NaN,
                    Number(o["lr"]) ?? double.NaN, Number(o["tokens_per_s"]) ?? double.NaN);
            else if (o["probe"]?.GetValue<string>() is { } key)
                probes[(key, step)] = new ProbePoint(step, key, Number(o["top1"]), Number(o["top1_sd"]), Number(o["mse"]),
                    o["seeds"] is { } s && TryLong(s, out var seeds) ? (int)seeds : 1);
        }
        return new RunHistory(steps.Values.ToList(), probes.Values.OrderBy(p => p.Key, StringComparer.Ordinal).ThenBy(p => p.Step).ToList());
    }

    /// <summary>Loss against step, and probe top-1 per key against step (what the plot draws).</summary>
    public (IReadOnlyList<(long Step, double Loss)> Loss, IReadOnlyDictionary<string, List<(long Step, double Value)>> Probes) Series() =>
        (Steps.Select(s => (s.Step, s.Loss)).ToList(),
         Probes.Where(p => p.Top1 is not null).GroupBy(p => p.Key, StringComparer.Ordinal)
             .ToDictionary(g => g.Key, g => g.Select(p => (p.Step, p.Top1!.Value)).ToList(), StringComparer.Ordinal));

    /// <summary>About <paramref name="rows"/> evenly spaced steps (the last one always), each with the mean loss of the
    /// steps since the previous row: the table `lvmae runs show` prints.</summary>
    public IReadOnlyList<StepPoint> Condensed(int rows)
    {
        if (Steps.Count == 0) return [];
        var size = Math.Max(1, (int)Math.Ceiling(Steps.Count / (double)rows));
        return Steps.Chunk(size).Select(c => c[^1] with { Loss = c.Average(s => s.Loss) }).ToList();
    }

    private static bool TryLong(JsonNode node, out long value)
    {
        value = 0;
        return node is JsonValue v && (v.TryGetValue(out value) || (v.TryGetValue(out double d) && (value = (long)d) == d));
    }

    private static double? Number(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue(out double d) ? d : node is JsonValue w && w.TryGetValue(out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) ? p : null;
}
