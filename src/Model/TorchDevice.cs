using TorchSharp;

namespace LvMae.Model;

/// <summary>Picks the compute device once: CUDA when the loaded libtorch has it, else CPU.
/// Everything in LvMae.Model takes a <see cref="torch.Device"/> so the code is device-agnostic.</summary>
public static class TorchDevice
{
    /// <summary>"auto" (CUDA if available), "cpu", "cuda" or "cuda:N".</summary>
    public static torch.Device Resolve(string? requested = "auto")
    {
        var name = string.IsNullOrWhiteSpace(requested) ? "auto" : requested.Trim().ToLowerInvariant();
        if (name == "auto") return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        if (name.StartsWith("cuda", StringComparison.Ordinal) && !torch.cuda.is_available())
            throw new InvalidOperationException(
                $"Device '{requested}' was requested but this libtorch has no CUDA device (build with -p:LvMaeTorchBackend=cuda on a GPU host).");
        return torch.device(name);
    }
}
