using System.Text;
using LvMae.Model.Training;

namespace LvMae.Model.Tests;

/// <summary>A corrupt or hostile checkpoint header fails with a message instead of allocating what it claims.</summary>
public sealed class CheckpointBoundsTests
{
    /// <summary>"LVMAECK1", a section count, then (name, declared length, bytes) per section, as Checkpoint.Save lays them out.</summary>
    private static byte[] Checkpoint(int count, params (string Name, long Declared, int Actual)[] sections)
    {
        var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("LVMAECK1"u8);
            writer.Write(count);
            foreach (var (name, declared, actual) in sections)
            {
                writer.Write(name);
                writer.Write(declared);
                writer.Write(new byte[actual]);
            }
        }
        return stream.ToArray();
    }

    public static TheoryData<string, byte[], string> Corrupt => new()
    {
        { "bad magic", "NOTACKPT\0\0\0\0"u8.ToArray(), "bad magic" },
        { "section count beyond the file", Checkpoint(1_000_000_000), "declares 1000000000 sections in 12 bytes" },
        { "negative section count", Checkpoint(-1), "declares -1 sections" },
        { "section of 2 GB in a tiny file", Checkpoint(1, ("model.safetensors", 2_000_000_000, 16)), "section 'model.safetensors' declares 2000000000 bytes, 16 remain" },
        { "negative section length", Checkpoint(1, ("meta.json", -5, 0)), "section 'meta.json' declares -5 bytes" },
        { "ends inside a section", Checkpoint(2, ("meta.json", 4, 4))[..^2], "section 'meta.json' declares 4 bytes, 2 remain" },
        { "ends after the first of two sections", Checkpoint(2, ("meta.json", 4, 4)), "truncated checkpoint (34 bytes): ended inside its section table" },
        { "ends inside a name", [.. Checkpoint(1), 40, .. "model.safe"u8], "truncated checkpoint" },
    };

    [Theory]
    [MemberData(nameof(Corrupt))]
    public void Each_corrupt_header_is_refused_before_allocating(string name, byte[] bytes, string expected)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => Training.Checkpoint.ExtractWeights(bytes));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, $"{name}: allocated what the header claims");
        Assert.Contains(expected, error.Message);
    }
}
