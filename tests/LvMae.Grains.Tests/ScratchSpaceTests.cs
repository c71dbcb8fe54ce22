using LvMae.Grains;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace LvMae.Grains.Tests;

/// <summary>Scratch left by a silo that died is removed when a silo starts; a live silo's scratch is never touched.</summary>
public sealed class ScratchSpaceTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("lvmae-scratch-test-").FullName;

    private ScratchSpace Start() => new(Options.Create(new ProcessingOptions { WorkDirectory = _work }), NullLogger<ScratchSpace>.Instance);

    [Fact]
    public void A_dead_silos_folder_is_reclaimed_and_a_live_one_is_kept()
    {
        using var live = Start();
        var liveFile = Path.Combine(live.Create("vlive"), "source.mp4");
        File.WriteAllBytes(liveFile, new byte[100]);

        // A silo killed mid-download: its folder and lock file stay, but nobody holds the lock.
        var dead = Path.Combine(live.Parent, "999-deadbeefdeadbeef");
        Directory.CreateDirectory(Path.Combine(dead, "vdead-123"));
        File.WriteAllBytes(Path.Combine(dead, "vdead-123", "source.mp4"), new byte[100]);
        File.WriteAllText(Path.Combine(dead, ".owner.lock"), "");

        using var next = Start();
        Assert.Equal(1, next.Reclaimed);
        Assert.False(Directory.Exists(dead));
        Assert.True(File.Exists(liveFile)); // the other live silo's work is untouched
        Assert.True(Directory.Exists(next.Root));
    }

    [Fact]
    public void Released_job_folders_are_gone_and_disposing_removes_the_silos_folder()
    {
        var scratch = Start();
        var job = scratch.Create("vjob");
        File.WriteAllBytes(Path.Combine(job, "source.mp4"), new byte[10]);
        Assert.Equal(10, scratch.Bytes());
        ScratchSpace.Release(job);
        Assert.False(Directory.Exists(job));
        scratch.Dispose();
        Assert.False(Directory.Exists(scratch.Root));
    }

    public void Dispose()
    {
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { }
    }
}
