using System.Buffers.Binary;

namespace LvMae.Testing;

/// <summary>Broken videos made from good ones, for the bad-input corpus of the media and CLI tests.</summary>
public static class BadMedia
{
    /// <summary>
    /// A 6 s Matroska video whose header claims <paramref name="seconds"/>: its Duration element (an 8-byte float of
    /// milliseconds) patched, and the per-stream DURATION tag renamed away so that ffprobe has only the lie.
    /// </summary>
    public static async Task LyingDurationAsync(string path, double seconds)
    {
        await TestVideos.GenerateAsync(path, 6, "testsrc2", size: 32, fps: 5);
        var bytes = await File.ReadAllBytesAsync(path);
        var duration = bytes.AsSpan().IndexOf((ReadOnlySpan<byte>)[0x44, 0x89, 0x88]);
        if (duration < 0) throw new InvalidOperationException("the muxer wrote no 8-byte Duration element");
        BinaryPrimitives.WriteDoubleBigEndian(bytes.AsSpan(duration + 3), seconds * 1000);
        var tag = bytes.AsSpan().IndexOf("DURATION"u8);
        if (tag >= 0) bytes[tag] = (byte)'X';
        await File.WriteAllBytesAsync(path, bytes);
    }

    /// <summary>The first <paramref name="fraction"/> of <paramref name="source"/>'s bytes, as a download or copy cut short leaves it.</summary>
    public static async Task CutAsync(string source, string path, double fraction)
    {
        var bytes = await File.ReadAllBytesAsync(source);
        await File.WriteAllBytesAsync(path, bytes[..(int)(bytes.Length * fraction)]);
    }

    /// <summary>The first <paramref name="bytes"/> bytes of <paramref name="source"/>: a container header and nothing after it.</summary>
    public static async Task HeadAsync(string source, string path, int bytes) =>
        await File.WriteAllBytesAsync(path, (await File.ReadAllBytesAsync(source))[..bytes]);

    /// <summary>A raw YUV4MPEG2 stream header declaring <paramref name="width"/> x <paramref name="height"/> frames, and no frame: a memory bomb for a decoder that believes it.</summary>
    public static Task Y4mHeaderAsync(string path, int width, int height) =>
        File.WriteAllTextAsync(path, $"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n");

    /// <summary><paramref name="bytes"/> random bytes (seeded) under a video's name.</summary>
    public static Task RandomBytesAsync(string path, int bytes, int seed)
    {
        var data = new byte[bytes];
        new Random(seed).NextBytes(data);
        return File.WriteAllBytesAsync(path, data);
    }

    /// <summary>A named pipe (FIFO) under a video's name: reading it would block forever.</summary>
    public static async Task FifoAsync(string path)
    {
        using var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]) ?? throw new InvalidOperationException("could not run mkfifo");
        await mkfifo.WaitForExitAsync();
    }
}
