using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LvMae.Storage;

namespace LvMae.Runs;

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
    /// <summary>A run's history as stored in runs/&lt;run&gt;/metrics.jsonl (empty when nothing was written yet; the
    /// writer is RunMetricsLog in src/Grains/Training).</summary>
    public static async Task<RunHistory> ReadAsync(BlobStore blobs, string run, CancellationToken cancellationToken = default) =>
        Parse(await blobs.TryDownloadAsync(BlobLayout.RunMetrics(run), cancellationToken) is { } bytes ? Encoding.UTF8.GetString(bytes) : "");

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
