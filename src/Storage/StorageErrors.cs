using Azure;

namespace LvMae.Storage;

/// <summary>Which failures mean "storage is unreachable or overloaded" (wait and try again) rather than "this request is wrong".</summary>
public static class StorageErrors
{
    /// <summary>
    /// Network errors, 408/429/5xx answers, and the SDK's "Retry failed after N tries" (an AggregateException of those);
    /// not 4xx answers about the request itself, and not 501 Not Implemented or 505 (a storage that lacks an operation,
    /// e.g. Azurite with SQL metadata answering Append Block, lacks it on every retry), nor a host name that does not
    /// resolve (no such account). <see cref="StorageFailure.Classify(RequestFailedException)"/> decides for answers, also
    /// when an Orleans call carried the exception and only its message says the status.
    /// </summary>
    public static bool IsOutage(Exception e) => e switch
    {
        RequestFailedException r => !StorageFailure.Classify(r).IsPermanent,
        AggregateException a => a.InnerExceptions.Count > 0 && a.InnerExceptions.All(i => i is TimeoutException or TaskCanceledException || IsOutage(i)),
        HttpRequestException { InnerException: System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.HostNotFound } } => false,
        HttpRequestException h => h.InnerException is System.Net.Sockets.SocketException or IOException || h.StatusCode is null,
        _ => false,
    };
}
