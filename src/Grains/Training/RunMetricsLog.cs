using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs.Specialized;
using LvMae.Grains;
using LvMae.Contracts;
using LvMae.Runs;
using LvMae.Storage;

namespace LvMae.Grains.Training;

/// <summary>
/// A run's metrics.jsonl (a block blob): lines are buffered in memory and appended as one block per flush (Put Block, then
/// Put Block List of the committed blocks plus the new one, If-Match the ETag of the last commit: operations every
/// Azure-Blob-compatible store serves, unlike Append Block), because a blob takes at most 50,000 committed blocks (one
/// flush every 30 s = 400 h of training). Appends happen one after another; a failed append keeps its lines for the next
/// flush; a commit whose response was lost is recognised by reading the block list back. A storage that crashed can come
/// back without commits it had acknowledged: the next commit meets a log whose block list is a prefix of the one it knew,
/// and the lines of the lost commits (kept for <see cref="RecentKept"/>) go again with the next flush. A metrics.jsonl
/// written by an earlier version as an append blob is appended to as before.
/// </summary>
public sealed class RunMetricsLog(BlobStore blobs, string run)
{
    private const int MaxAppendBytes = 4 << 20; // a block per 4 MiB (an append block's limit for legacy logs)
    private readonly List<string> _lines = [];
    private Task _appending = Task.CompletedTask;
    /// <summary>How long a commit's lines are kept, to be appended again if storage loses the commit.</summary>
    public static readonly TimeSpan RecentKept = TimeSpan.FromMinutes(2);
    /// <summary>The recent commits, oldest first: the first block id and the lines of each.</summary>
    private readonly Queue<(string Block, string Text, DateTimeOffset At)> _recent = new();
    /// <summary>Lines of commits storage lost, to go before the next flush's.</summary>
    private readonly List<string> _lost = [];

    public int Buffered => _lines.Count;
    public DateTimeOffset LastFlush { get; private set; } = DateTimeOffset.MinValue;

    public void Add(JsonObject line) => _lines.Add(line.ToJsonString());

    /// <summary>The line of one training step, at <paramref name="time"/>.</summary>
    public static JsonObject StepLine(StepEvent step, DateTimeOffset time) => new()
    {
        ["step"] = step.Result.Step, ["epoch"] = step.Epoch, ["loss"] = step.Result.Loss, ["lr"] = step.Result.LearningRate,
        ["tokens"] = step.Result.Tokens, ["tokens_per_s"] = Math.Round(step.TokensPerSecond, 1),
        ["step_ms"] = Math.Round(step.Result.Elapsed.TotalMilliseconds, 2), ["time"] = time.ToString("O"),
    };

    /// <summary>The line of one probe score.</summary>
    public static JsonObject ProbeLine(ProbeScore s) => new()
    {
        ["probe"] = $"{s.Column}/{s.Features}/{s.Probe}", ["step"] = s.Step, ["top1"] = s.Top1, ["top1_sd"] = s.Top1Sd, ["mse"] = s.Mse,
        ["mse_sd"] = s.MseSd, ["val_top1"] = s.ValTop1, ["seeds"] = s.Seeds, ["train"] = s.Train, ["test"] = s.Test, ["val"] = s.Val, ["classes"] = s.Classes,
    };

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
            _lines.InsertRange(0, [.. _lost, .. text.TrimEnd('\n').Split('\n').Take(count)]); // keep them for the next flush
            _lost.Clear();
            throw;
        }
    }

    private List<string>? _blocks; // committed block ids as last committed or read; null: read them first
    private string? _etag;
    private bool _legacyAppendBlob;

    private async Task AppendAsync(string text)
    {
        await blobs.EnsureContainerAsync();
        var bytes = Encoding.UTF8.GetBytes(text);
        if (_blocks is null) await ReadBlocksAsync();
        if (_legacyAppendBlob)
        {
            var append = blobs.Container.GetAppendBlobClient(BlobLayout.RunMetrics(run));
            for (var offset = 0; offset < bytes.Length; offset += MaxAppendBytes)
            {
                using var chunk = new MemoryStream(bytes, offset, Math.Min(MaxAppendBytes, bytes.Length - offset));
                await append.AppendBlockAsync(chunk);
            }
            return;
        }
        var blob = blobs.Container.GetBlockBlobClient(BlobLayout.RunMetrics(run));
        var ours = new List<string>();
        for (var offset = 0; offset < bytes.Length; offset += MaxAppendBytes)
        {
            string id;
            do id = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
            while (ours.Contains(id) || _blocks!.Contains(id));
            using var chunk = new MemoryStream(bytes, offset, Math.Min(MaxAppendBytes, bytes.Length - offset));
            await blob.StageBlockAsync(id, chunk);
            ours.Add(id);
        }
        var list = _blocks!.Concat(ours).ToList();
        var options = new Azure.Storage.Blobs.Models.CommitBlockListOptions
        {
            HttpHeaders = new Azure.Storage.Blobs.Models.BlobHttpHeaders { ContentType = "application/x-ndjson" },
            Conditions = _etag is null ? new Azure.Storage.Blobs.Models.BlobRequestConditions { IfNoneMatch = Azure.ETag.All }
                : new Azure.Storage.Blobs.Models.BlobRequestConditions { IfMatch = new Azure.ETag(_etag) },
        };
        try
        {
            _etag = (await blob.CommitBlockListAsync(list, options)).Value.ETag.ToString();
            _blocks = list;
        }
        catch (Azure.RequestFailedException e) when (e.Status is 409 or 412)
        {
            // A commit whose response was lost meets itself on the SDK's retry; anything else: another writer (read again).
            var before = _blocks!;
            await ReadBlocksAsync();
            if (UnknownWrites.ResolveCommit(before, ours, _blocks) != AppendReadBack.Appended)
            {
                if (_blocks!.Count < before.Count && _blocks.SequenceEqual(before.Take(_blocks.Count)))
                    _lost.AddRange(_recent.Where(r => !_blocks.Contains(r.Block)).SelectMany(r => r.Text.TrimEnd('\n').Split('\n'))); // storage lost them
                _recent.Clear();
                _blocks = null;
                throw;
            }
        }
        var now = DateTimeOffset.UtcNow;
        _recent.Enqueue((ours[0], text, now));
        while (_recent.TryPeek(out var oldest) && (now - oldest.At > RecentKept || _recent.Count > 256)) _recent.Dequeue();
    }

    /// <summary>The committed block ids and the ETag of one version (their sizes add up to its length: commits only add blocks).</summary>
    private async Task ReadBlocksAsync()
    {
        var blob = blobs.Container.GetBlockBlobClient(BlobLayout.RunMetrics(run));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var properties = (await blob.GetPropertiesAsync()).Value;
                if (properties.BlobType == Azure.Storage.Blobs.Models.BlobType.Append) { (_legacyAppendBlob, _blocks) = (true, []); return; }
                var list = (await blob.GetBlockListAsync(Azure.Storage.Blobs.Models.BlockListTypes.Committed)).Value;
                if (list.CommittedBlocks.Sum(b => b.SizeLong) == properties.ContentLength || attempt >= 5)
                {
                    (_blocks, _etag) = (list.CommittedBlocks.Select(b => b.Name).ToList(), properties.ETag.ToString());
                    return;
                }
            }
            catch (Azure.RequestFailedException e) when (e.Status == 404) { (_blocks, _etag) = ([], null); return; }
        }
    }

    /// <summary>The run's history as stored (empty when nothing was written yet).</summary>
    public Task<RunHistory> ReadAsync(CancellationToken cancellationToken = default) => RunHistory.ReadAsync(blobs, run, cancellationToken);
}
