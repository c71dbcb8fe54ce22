using System.Net.Sockets;
using System.Text.RegularExpressions;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace LvMae.Storage;

public enum StorageFailureKind
{
    /// <summary>Storage is unreachable or overloaded (no answer, 408, 429, 500, 502-504): wait and try again.</summary>
    Transient,
    /// <summary>Storage answered that this request cannot succeed as it is (501, 505, 401/403, a missing container or account, other 4xx): report it once.</summary>
    Permanent,
}

/// <summary>
/// What a storage error means and how to say it: <see cref="Classify(RequestFailedException)"/> is pure (status, error code,
/// the storage's message; parsed from the exception's text when its fields were lost on the way, as through an Orleans
/// call). The operation and blob come from the request itself when <see cref="Policy"/> saw it (every client the silo and
/// the CLI create carries it): it rethrows refusals that no retry can change as <see cref="StorageRequestException"/>s
/// whose message names them.
/// </summary>
public sealed record StorageFailure(StorageFailureKind Kind, int Status, string? ErrorCode, string Explanation, string StorageMessage,
    string? Operation = null, string? Resource = null)
{
    public bool IsPermanent => Kind == StorageFailureKind.Permanent;

    /// <summary>One line for the user: the operation and blob, the answer, what it means, and the storage's own words.</summary>
    public string Message =>
        $"storage {(Operation ?? "request")}{(Resource is null ? "" : $" on {Resource}")} failed: " +
        $"{(Status == 0 ? "no answer" : Status.ToString())}{(ErrorCode is null ? "" : $" {ErrorCode}")}: {Explanation}" +
        (StorageMessage.Length == 0 ? "" : $" (storage said: \"{StorageMessage}\")");

    private static readonly Regex StatusLine = new(@"^Status: (\d{3})", RegexOptions.Multiline | RegexOptions.CultureInvariant);
    private static readonly Regex ErrorCodeLine = new(@"^ErrorCode: (\S+)", RegexOptions.Multiline | RegexOptions.CultureInvariant);
    private static readonly Regex SaidPart = new("\\(storage said: \"(.*)\"\\)$", RegexOptions.CultureInvariant);
    private static readonly Regex Named = new(@"^storage (?<op>[A-Z][A-Za-z ]+?) on (?<res>\S+) failed: ", RegexOptions.CultureInvariant);

    public static StorageFailure Classify(RequestFailedException e)
    {
        var text = e.Message ?? "";
        var status = e.Status;
        var code = e.ErrorCode;
        // Across an Orleans call the exception keeps its message, not always its fields.
        if (status == 0 && StatusLine.Match(text) is { Success: true } s) status = int.Parse(s.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (string.IsNullOrEmpty(code) && ErrorCodeLine.Match(text) is { Success: true } c) code = c.Groups[1].Value;
        var (operation, resource) = e is StorageRequestException r ? (r.Operation, r.Resource) : (null, null);
        var first = text.Split('\n', 2)[0].Trim();
        if (operation is null && Named.Match(first) is { Success: true } named) (operation, resource) = (named.Groups["op"].Value, named.Groups["res"].Value);
        var storageMessage = e is StorageRequestException sr ? sr.StorageMessage
            : Named.IsMatch(first) ? (SaidPart.Match(first) is { Success: true } said ? said.Groups[1].Value : "")
            : first;
        var (kind, explanation) = Explain(status, code);
        return new StorageFailure(kind, status, string.IsNullOrEmpty(code) ? null : code, explanation, storageMessage, operation, resource);
    }

    /// <summary>The meaning of an answer: transient (wait) or permanent (report), and why.</summary>
    public static (StorageFailureKind Kind, string Explanation) Explain(int status, string? errorCode) => (status, errorCode) switch
    {
        (0, _) => (StorageFailureKind.Transient, "storage did not answer; waiting for it"),
        (408 or 429 or 500 or 502 or 503 or 504, _) => (StorageFailureKind.Transient, "storage is unavailable or overloaded; waiting for it"),
        (501, _) => (StorageFailureKind.Permanent, "this storage does not implement the operation (Azurite with its blob metadata in SQL lacks Append Block, page blobs and copies); retrying cannot help"),
        (505, _) => (StorageFailureKind.Permanent, "this storage does not support the API version"),
        (401 or 403, _) => (StorageFailureKind.Permanent, "not authorized: check the account key or SAS (its permissions, expiry and resource) in the connection string"),
        (404, "ContainerNotFound") => (StorageFailureKind.Permanent, "the container does not exist"),
        (404 or 400, "ResourceNotFound" or "AccountNotFound" or "InvalidResourceName" or "InvalidUri") => (StorageFailureKind.Permanent, "the storage account or resource does not exist"),
        (>= 500, _) => (StorageFailureKind.Transient, "storage failed; waiting for it"),
        _ => (StorageFailureKind.Permanent, "storage refused the request"),
    };

    /// <summary>
    /// The storage failure inside <paramref name="e"/> (itself, an inner exception, the SDK's "retry failed" aggregate), or
    /// null when it is not one. A host name that does not resolve is a missing account (permanent); other network errors
    /// and timeouts are transient.
    /// </summary>
    public static StorageFailure? Find(Exception? e)
    {
        for (var depth = 0; e is not null && depth < 8; depth++)
        {
            switch (e)
            {
                case RequestFailedException r:
                    return Classify(r);
                case AggregateException a when a.InnerExceptions.Count > 0:
                    var inner = a.InnerExceptions.Select(Find).ToList();
                    return inner.FirstOrDefault(f => f is { IsPermanent: true }) ?? inner.FirstOrDefault(f => f is not null);
                case HttpRequestException { InnerException: SocketException { SocketErrorCode: SocketError.HostNotFound } } h:
                    return new StorageFailure(StorageFailureKind.Permanent, 0, "HostNotFound", "the storage account's host name does not resolve (no such account?)", h.Message);
                case HttpRequestException h:
                    return new StorageFailure(StorageFailureKind.Transient, 0, null, "storage did not answer; waiting for it", h.Message);
                case { Message: { } text } when StatusLine.IsMatch(text) && ErrorCodeLine.IsMatch(text):
                    // A storage exception whose type did not survive a trip (an Orleans fallback exception keeps the message).
                    return Classify(new RequestFailedException(text));
            }
            e = e.InnerException;
        }
        return null;
    }

    /// <summary>True when <paramref name="e"/> holds a storage failure no retry can change.</summary>
    public static bool IsPermanentFailure(Exception e) => Find(e) is { IsPermanent: true };

    /// <summary>A per-call pipeline policy: an answer no retry can change (501, 505, 401, 403) becomes a <see cref="StorageRequestException"/> naming the operation and blob.</summary>
    public static HttpPipelinePolicy Policy { get; } = new NamingPolicy();

    /// <summary>Blob client options carrying <see cref="Policy"/>.</summary>
    public static Azure.Storage.Blobs.BlobClientOptions BlobOptions()
    {
        var options = new Azure.Storage.Blobs.BlobClientOptions();
        options.AddPolicy(Policy, HttpPipelinePosition.PerCall);
        return options;
    }

    /// <summary>"Append Block", "Put Blob", ...: the REST operation of a request (method and comp/restype parameters).</summary>
    public static string OperationName(string method, string query)
    {
        string? Param(string name) => query.TrimStart('?').Split('&').Select(p => p.Split('=', 2)).FirstOrDefault(p => p[0] == name) is { Length: 2 } p ? p[1] : null;
        var comp = Param("comp");
        var container = Param("restype") == "container";
        return (method, comp, container) switch
        {
            ("PUT", "appendblock", _) => "Append Block",
            ("PUT", "block", _) => "Put Block",
            ("PUT", "blocklist", _) => "Put Block List",
            ("GET", "blocklist", _) => "Get Block List",
            ("PUT", "page", _) => "Put Page",
            ("PUT", "seal", _) => "Seal Append Blob",
            ("PUT", "metadata", _) => container ? "Set Container Metadata" : "Set Blob Metadata",
            ("PUT", "properties", _) => "Set Blob Properties",
            ("PUT", "lease", _) => container ? "Lease Container" : "Lease Blob",
            ("PUT", null, true) => "Create Container",
            ("DELETE", null, true) => "Delete Container",
            ("GET", "list", true) => "List Blobs",
            ("GET", "list", false) => "List Containers",
            ("GET", null, true) or ("HEAD", null, true) => "Get Container Properties",
            ("PUT", null, false) => "Put Blob",
            ("GET", null, false) => "Get Blob",
            ("HEAD", null, false) => "Get Blob Properties",
            ("DELETE", null, false) => "Delete Blob",
            _ => $"{method} {(comp is null ? "" : $"comp={comp}")}".Trim(),
        };
    }

    /// <summary>"/devstoreaccount1/lvmae/index/x" (Azurite) or "/lvmae/index/x" (Azure) -> "lvmae/index/x" (the container and blob).</summary>
    public static string ResourceName(Uri uri)
    {
        var path = Uri.UnescapeDataString(uri.AbsolutePath).TrimStart('/');
        // Azurite and other path-style endpoints put the account first (127.0.0.1:port/account/container/blob).
        if (uri.IsLoopback || System.Net.IPAddress.TryParse(uri.Host, out _)) path = path.Contains('/') ? path[(path.IndexOf('/') + 1)..] : "";
        return path.Length == 0 ? uri.Host : path;
    }

    private sealed class NamingPolicy : HttpPipelinePolicy
    {
        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            ProcessNext(message, pipeline);
            Check(message);
        }

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            await ProcessNextAsync(message, pipeline);
            Check(message);
        }

        private static void Check(HttpMessage message)
        {
            if (!message.HasResponse || message.Response.Status is not (501 or 505 or 401 or 403)) return;
            var response = message.Response;
            var code = response.Headers.TryGetValue("x-ms-error-code", out var c) ? c : null;
            var storageMessage = ErrorMessage(response) ?? response.ReasonPhrase;
            var request = message.Request;
            var failure = new StorageFailure(StorageFailureKind.Permanent, response.Status, code, Explain(response.Status, code).Explanation, storageMessage,
                OperationName(request.Method.ToString(), request.Uri.Query), ResourceName(request.Uri.ToUri()));
            throw new StorageRequestException(failure, response);
        }

        /// <summary>The &lt;Message&gt; of the storage's XML error body (buffered by the pipeline), first line only.</summary>
        private static string? ErrorMessage(Response response)
        {
            try
            {
                var body = response.Content?.ToString();
                if (string.IsNullOrEmpty(body)) return null;
                var match = Regex.Match(body, "<Message>(.*?)</Message>", RegexOptions.Singleline);
                return match.Success ? System.Net.WebUtility.HtmlDecode(match.Groups[1].Value).Split('\n')[0].Trim() : null;
            }
            catch (Exception) { return null; }
        }
    }
}

/// <summary>
/// A storage refusal no retry can change, naming the operation and blob (<see cref="StorageFailure.Policy"/>). A
/// <see cref="RequestFailedException"/> with the same status and error code, so callers' filters treat it as before.
/// </summary>
public sealed class StorageRequestException : RequestFailedException
{
    internal StorageRequestException(StorageFailure failure, Response response)
        : base(failure.Status, failure.Message + $"\nStatus: {failure.Status}\nErrorCode: {failure.ErrorCode}", failure.ErrorCode, null)
    {
        Operation = failure.Operation;
        Resource = failure.Resource;
        StorageMessage = failure.StorageMessage;
        _ = response;
    }

    public string? Operation { get; }
    public string? Resource { get; }
    public string StorageMessage { get; }
}
