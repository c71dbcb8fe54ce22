using Azure;
using LvMae.Contracts;
using LvMae.Media;
using LvMae.Storage;

namespace LvMae.Grains;

/// <summary>
/// What a failure of a video's work means: its kind, its message and whether retrying can help.
/// Pure: the grain, its retry policies (<see cref="VideoRetries"/>) and the index shards decide with these.
/// </summary>
public static class VideoFailures
{
    public const string StorageKind = "Storage";

    /// <summary>Error kind and whether retrying can help. Storage errors (the SDK's own retries exhausted included) are their own kind: waited out.</summary>
    public static (string Kind, bool Permanent) Classify(Exception e) => e switch
    {
        MediaException m => (m.Kind.ToString(), m.IsPermanent),
        _ when IsStorageOutage(e) => (StorageKind, false),
        // Storage lacks the operation or denies access: every attempt would meet the same answer (StorageFailure).
        RequestFailedException r when StorageFailure.Classify(r) is { IsPermanent: true, Status: 501 or 505 or 401 or 403 } f => ($"StorageRequest{f.Status}", true),
        RequestFailedException r => ($"StorageRequest{r.Status}", false),
        HttpRequestException or IOException => ("IO", false),
        TimeoutException => ("Timeout", false),
        ArgumentException => ("InvalidRequest", true),
        InvalidDataException => ("BadData", true),
        _ => ("Internal", false),
    };

    /// <summary>The message a failure records: a media error's own problem (its input is the video), else the exception's.</summary>
    public static string Message(Exception e) => e is MediaException m ? m.Problem : e.Message;

    /// <summary>Storage unreachable or overloaded (see <see cref="StorageErrors.IsOutage"/>), also when it reaches us through an Orleans call.</summary>
    public static bool IsStorageOutage(Exception e) =>
        StorageErrors.IsOutage(e) || (e is OrleansException { InnerException: { } inner } && StorageErrors.IsOutage(inner));

    /// <summary>Records <paramref name="e"/> on <paramref name="video"/> as its failure (<see cref="VideoState.MarkFailed"/>).</summary>
    public static void MarkFailed(VideoState video, Exception e)
    {
        var (kind, permanent) = Classify(e);
        video.MarkFailed(kind, Message(e), permanent);
    }
}
