namespace LvMae.Corpus;

/// <summary>
/// A small seeded generator (SplitMix64) whose sequence is fixed by this code, not by the runtime's
/// <see cref="Random"/> implementation, so that a corpus seed means the same timelines on every
/// .NET version and machine. Streams are derived per video (<see cref="Derive"/>), so a video's
/// timeline does not depend on how many videos come before it or on generation order.
/// </summary>
internal sealed class DeterministicRandom
{
    private ulong _state;

    public DeterministicRandom(ulong seed) => _state = seed;

    /// <summary>An independent stream for (seed, purpose, index).</summary>
    public static DeterministicRandom Derive(long seed, string purpose, int index)
    {
        ulong h = Mix(unchecked((ulong)seed) ^ 0x9E3779B97F4A7C15UL);
        foreach (char c in purpose)
            h = Mix(h ^ c);
        h = Mix(h ^ unchecked((ulong)index + 0xD1B54A32D192ED03UL));
        return new DeterministicRandom(h);
    }

    public ulong NextUInt64()
    {
        _state = unchecked(_state + 0x9E3779B97F4A7C15UL);
        return Mix(_state);
    }

    /// <summary>Uniform in [0, maxExclusive) without modulo bias.</summary>
    public int Next(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        ulong bound = (ulong)maxExclusive;
        ulong limit = ulong.MaxValue - (ulong.MaxValue % bound);
        ulong x;
        do { x = NextUInt64(); } while (x >= limit);
        return (int)(x % bound);
    }

    /// <summary>Uniform in [minInclusive, maxInclusive].</summary>
    public int NextInclusive(int minInclusive, int maxInclusive) =>
        minInclusive + Next(maxInclusive - minInclusive + 1);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [min, max).</summary>
    public double NextDouble(double min, double max) => min + (max - min) * NextDouble();

    /// <summary>Standard normal (Box-Muller, one draw of the pair).</summary>
    public double NextGaussian() => Math.Sqrt(-2 * Math.Log(1 - NextDouble())) * Math.Cos(2 * Math.PI * NextDouble());

    /// <summary>A uniformly random direction in <paramref name="d"/> dimensions, scaled to length <paramref name="norm"/>.</summary>
    public double[] NextVector(int d, double norm = 1.0)
    {
        var v = Enumerable.Range(0, d).Select(_ => NextGaussian()).ToArray();
        var length = Math.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / length * norm).ToArray();
    }

    /// <summary>A seed for an ffmpeg source/filter option (0 .. int.MaxValue-1).</summary>
    public int NextSeed() => Next(int.MaxValue);

    /// <summary>Fisher-Yates in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static ulong Mix(ulong z)
    {
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
