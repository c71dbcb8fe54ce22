using System.Runtime.InteropServices;

namespace LvMae.Demo;

/// <summary>
/// Second line of defence against TorchSharp's temporary-Scalar use-after-free (see <see cref="LvMae.Model.TorchGc"/>,
/// which already keeps GCs out of every training and probe step): the demo retries a step or a probe once on a
/// libtorch error, and says so in its report.
/// </summary>
public static class TorchGuard
{
    /// <summary>Runs <paramref name="body"/>; on a libtorch error (<see cref="ExternalException"/>) runs it once more.</summary>
    public static T RetryOnce<T>(Func<T> body, Action<ExternalException>? onRetry = null)
    {
        try { return body(); }
        catch (ExternalException e)
        {
            onRetry?.Invoke(e);
            return body();
        }
    }
}
