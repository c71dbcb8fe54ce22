using System.Text;

namespace LvMae.Pipeline;

/// <summary>
/// Stable seeds derived from (run seed, epoch[, video id]). string.GetHashCode is randomised per process,
/// so ids are hashed with FNV-1a and mixed with SplitMix64: same inputs, same seed, on any machine.
/// </summary>
public static class SampleSeeds
{
    public static int ForEpoch(int seed, long epoch) => Fold(Mix(Mix((ulong)(uint)seed) ^ (ulong)epoch));

    /// <summary>The order of an epoch's length-bucketed batches (independent of the video shuffle of <see cref="ForEpoch"/>).</summary>
    public static int ForBatchOrder(int seed, long epoch) => Fold(Mix(Mix(Mix((ulong)(uint)seed) ^ (ulong)epoch) ^ 0xB4C3E7D1UL));

    public static int ForSample(int seed, long epoch, string videoId) =>
        Fold(Mix(Mix(Mix((ulong)(uint)seed) ^ (ulong)epoch) ^ Fnv1a(videoId)));

    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(text)) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static int Fold(ulong z) => (int)(z ^ (z >> 32)) & int.MaxValue;
}
