using System.Security.Cryptography;
using System.Text;

namespace LvMae.Media;

/// <summary>
/// Video ids from file names: 1-128 characters of [A-Za-z0-9._-], never starting with '.', so they are safe as blob
/// name parts (compatible with LvMae.Storage.BlobLayout.IsValidId) and cannot traverse paths. When a name has to be
/// changed to fit (other characters, too long), a short hash of the original name is appended so that two different
/// names do not collapse into the same id. Identical content under different names is caught by <see cref="ContentHashAsync"/>.
/// </summary>
public static class VideoIds
{
    public const int MaxLength = 128;

    /// <summary>Same rule as LvMae.Storage.BlobLayout.IsValidId.</summary>
    public static bool IsValid(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= MaxLength && id[0] != '.' &&
        id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>"/in/My clip (1).mp4" -> "My_clip_1_-1a2b3c4d"; "walk.mp4" -> "walk". Directory parts are ignored.</summary>
    public static string FromFileName(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var name = path.Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        var dot = name.LastIndexOf('.');
        if (dot > 0) name = name[..dot];

        var builder = new StringBuilder(name.Length);
        foreach (var c in name) builder.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_');
        var safe = builder.ToString().TrimStart('.');
        while (safe.Contains("__", StringComparison.Ordinal)) safe = safe.Replace("__", "_", StringComparison.Ordinal);
        if (safe == name && IsValid(safe)) return safe;

        var suffix = "-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..8];
        safe = safe.Trim('_');
        if (safe.Length == 0) safe = "video";
        if (safe.Length + suffix.Length > MaxLength) safe = safe[..(MaxLength - suffix.Length)];
        var id = safe + suffix;
        return IsValid(id) ? id : "video" + suffix;
    }

    /// <summary>SHA-256 of the file's bytes as lowercase hex, read as a stream (no whole-file buffer).</summary>
    public static async Task<string> ContentHashAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
            return Convert.ToHexStringLower(hash);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new MediaException(path, MediaErrorKind.FileNotFound, "file not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MediaException(path, MediaErrorKind.Truncated, $"file cannot be read: {e.Message}", e);
        }
    }
}
