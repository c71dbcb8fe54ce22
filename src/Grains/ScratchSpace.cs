using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LvMae.Grains;

/// <summary>
/// This silo's scratch folder for downloaded sources: &lt;WorkDirectory&gt;/lvmae-work/&lt;silo-instance&gt;/, claimed by an
/// exclusively locked file for the silo's lifetime. At start-up every sibling folder whose lock can be taken belongs to a
/// silo that is gone (killed, crashed): it is deleted, so scratch of a dead silo never piles up. Several silos on one
/// machine share the parent folder safely.
/// </summary>
public sealed class ScratchSpace : IDisposable
{
    private const string LockName = ".owner.lock";
    private readonly FileStream _lock;

    public ScratchSpace(IOptions<ProcessingOptions> options, ILogger<ScratchSpace> logger)
    {
        Parent = Path.Combine(options.Value.WorkDirectory ?? Path.GetTempPath(), "lvmae-work");
        Directory.CreateDirectory(Parent);
        Root = Path.Combine(Parent, $"{Environment.ProcessId}-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(Root);
        _lock = new FileStream(Path.Combine(Root, LockName), FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        Reclaimed = ReclaimOrphans(logger);
    }

    public string Parent { get; }
    public string Root { get; }
    /// <summary>Folders of dead silos removed at start-up.</summary>
    public int Reclaimed { get; }

    /// <summary>A fresh folder for one job; delete it (<see cref="Release"/>) before giving the job slot back.</summary>
    public string Create(string videoId)
    {
        var path = Path.Combine(Root, $"{videoId}-{Guid.NewGuid():N}"[..Math.Min(videoId.Length + 9, 140)]);
        Directory.CreateDirectory(path);
        return path;
    }

    public static void Release(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { /* reclaimed with this silo's folder at the next start-up */ }
    }

    /// <summary>Bytes under this silo's folder (benchmarks: scratch stays bounded by slots x largest video).</summary>
    public long Bytes() => Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories).Sum(f => { try { return new FileInfo(f).Length; } catch (IOException) { return 0L; } });

    private int ReclaimOrphans(ILogger logger)
    {
        var reclaimed = 0;
        foreach (var folder in Directory.EnumerateDirectories(Parent))
        {
            if (folder == Root) continue;
            var lockFile = Path.Combine(folder, LockName);
            // A silo starting right now creates its folder a moment before its lock.
            if (!File.Exists(lockFile) && DateTime.UtcNow - Directory.GetLastWriteTimeUtc(folder) < TimeSpan.FromMinutes(1)) continue;
            try
            {
                // The owner holds its lock open with FileShare.None: opening it means the owner is gone.
                using (new FileStream(lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)) { }
                Directory.Delete(folder, recursive: true);
                reclaimed++;
            }
            catch (IOException) { /* a live silo's folder */ }
            catch (UnauthorizedAccessException e) { logger.LogWarning("scratch: cannot reclaim {Folder}: {Message}", folder, e.Message); }
        }
        if (reclaimed > 0) logger.LogInformation("scratch: removed {Count} folder(s) left by silos that are gone", reclaimed);
        return reclaimed;
    }

    public void Dispose()
    {
        _lock.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
