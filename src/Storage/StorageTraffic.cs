using System.Collections.Concurrent;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;

namespace LvMae.Storage;

/// <summary>Requests and bytes sent to storage for one category (grain state, index, data, tables).</summary>
public sealed record StorageTrafficCounts(string Category, long Requests, long Writes, long BytesWritten, long Failures, long BytesRead = 0);

/// <summary>
/// Counts what a process sends to its storage account, by category: every Azure client the silo creates carries
/// <see cref="Policy"/>. Operators read it (GET /silo/storage) to see what a corpus costs in writes; the scale benchmark
/// derives bytes written per video from it.
/// </summary>
public sealed class StorageTraffic
{
    private readonly ConcurrentDictionary<string, Counter> _counters = new(StringComparer.Ordinal);

    private sealed class Counter
    {
        public long Requests, Writes, Bytes, Failures, Read;
    }

    /// <summary>A pipeline policy that counts each request under the category <paramref name="classify"/> gives its path.</summary>
    public HttpPipelinePolicy Policy(Func<string, string> classify) => new CountingPolicy(this, classify);

    /// <summary>Blob client options whose requests count as <paramref name="classify"/> says (path = "/container/blob", account prefix removed).</summary>
    public BlobClientOptions BlobOptions(Func<string, string> classify)
    {
        var options = StorageFailure.BlobOptions();
        options.AddPolicy(Policy(classify), HttpPipelinePosition.PerCall);
        return options;
    }

    public IReadOnlyList<StorageTrafficCounts> Snapshot() =>
        _counters.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new StorageTrafficCounts(kv.Key, Interlocked.Read(ref kv.Value.Requests), Interlocked.Read(ref kv.Value.Writes),
                Interlocked.Read(ref kv.Value.Bytes), Interlocked.Read(ref kv.Value.Failures), Interlocked.Read(ref kv.Value.Read)))
            .ToList();

    private void Count(string category, string method, long bytes, bool failed, long read)
    {
        var c = _counters.GetOrAdd(category, _ => new Counter());
        Interlocked.Increment(ref c.Requests);
        if (read > 0) Interlocked.Add(ref c.Read, read);
        if (method is "PUT" or "POST" or "PATCH" or "MERGE" or "DELETE")
        {
            Interlocked.Increment(ref c.Writes);
            Interlocked.Add(ref c.Bytes, bytes);
        }
        if (failed) Interlocked.Increment(ref c.Failures);
    }

    /// <summary>"/devstoreaccount1/lvmae/index/x" (Azurite) or "/lvmae/index/x" (Azure) -> "/lvmae/index/x".</summary>
    public static string ContainerPath(Uri uri, string? account)
    {
        var path = uri.AbsolutePath;
        return account is not null && path.StartsWith($"/{account}/", StringComparison.Ordinal) ? path[(account.Length + 1)..] : path;
    }

    private sealed class CountingPolicy(StorageTraffic owner, Func<string, string> classify) : HttpPipelinePolicy
    {
        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            try { ProcessNext(message, pipeline); }
            finally { Record(message); }
        }

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            try { await ProcessNextAsync(message, pipeline); }
            finally { Record(message); }
        }

        private void Record(HttpMessage message)
        {
            var request = message.Request;
            var bytes = request.Content is { } content && content.TryComputeLength(out var length) ? length : 0;
            var failed = !message.HasResponse || message.Response.Status >= 500;
            // Bytes read: what a GET's answer says it carries (a download's range, a listing's page).
            var read = message.HasResponse && request.Method == RequestMethod.Get && message.Response.Status < 300
                && message.Response.Headers.ContentLength is { } answered ? answered : 0;
            owner.Count(classify(request.Uri.Path), request.Method.ToString(), bytes, failed, read);
        }
    }
}
