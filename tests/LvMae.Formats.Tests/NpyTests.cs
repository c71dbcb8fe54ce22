using LvMae.Testing;

namespace LvMae.Formats.Tests;

/// <summary>
/// .npy files byte for byte as NumPy writes them (numpy.lib.format, version 1.0), including the layouts NumPy produces
/// besides little-endian C order: big-endian dtypes ('>f4') and Fortran order (np.asfortranarray).
/// </summary>
public sealed class NpyTests
{
    /// <summary>The 2x3 array a = arange(6).reshape(2, 3) * 0.5 - 1 in row-major order.</summary>
    private static readonly double[] A = [-1, -0.5, 0, 0.5, 1, 1.5];

    private static NpyArray Read(byte[] bytes) => NpyArray.Read(new MemoryStream(bytes));

    [Fact]
    public void The_test_writer_matches_numpy_byte_for_byte()
    {
        // np.save(f, np.asfortranarray((np.arange(6.).reshape(2, 3) * 0.5 - 1).astype('>f4'))) with NumPy 1.24.2.
        var numpy = Convert.FromHexString(
            "934e554d5059010076007b276465736372273a20273e6634272c2027666f727472616e5f6f72646572273a20547275652c20277368617065273a2028322c2033292c207d" +
            string.Concat(Enumerable.Repeat("20", 59)) + "0a" + "bf8000003f000000bf0000003f800000000000003fc00000");
        Assert.Equal(numpy, NumpyFiles.Save(">f4", fortran: true, [2, 3], A));
    }

    [Theory]
    [InlineData("<f4", false)]
    [InlineData("<f4", true)]
    [InlineData(">f4", false)]
    [InlineData(">f4", true)]
    [InlineData("<f8", false)]
    [InlineData("<f8", true)]
    [InlineData(">f8", false)]
    [InlineData(">f8", true)]
    [InlineData("<f2", false)]
    [InlineData(">f2", true)]
    public void Every_float_layout_numpy_writes_reads_as_the_same_row_major_values(string descr, bool fortran)
    {
        var array = Read(NumpyFiles.Save(descr, fortran, [2, 3], A));
        Assert.Equal([2L, 3L], array.Shape);
        Assert.True(array.IsFloatingPoint);
        Assert.Equal("<" + descr[1..], array.DType);
        Assert.Equal(A.Select(v => (float)v), array.ToFloats());
    }

    [Fact]
    public void A_three_dimensional_fortran_array_is_reordered_on_every_axis()
    {
        // np.asfortranarray(np.arange(12.).reshape(2, 3, 2).astype('>f8')) stores 0 6 2 8 4 10 1 7 3 9 5 11.
        var values = Enumerable.Range(0, 12).Select(i => (double)i).ToArray();
        var bytes = NumpyFiles.Save(">f8", fortran: true, [2, 3, 2], values);
        Assert.Equal("000000000000000040180000000000004000000000000000",
            Convert.ToHexStringLower(bytes.AsSpan(bytes.Length - 96, 24)));
        Assert.Equal(values.Select(v => (float)v), Read(bytes).ToFloats());
    }

    [Fact]
    public void Writing_then_reading_round_trips_in_numpys_own_format()
    {
        var array = NpyArray.FromFloats([1, 2, 3, 4, 5, 6], 3, 2);
        var stream = new MemoryStream();
        array.Write(stream);
        Assert.Equal(NumpyFiles.Save("<f4", false, [3, 2], [1, 2, 3, 4, 5, 6]), stream.ToArray());
        Assert.Equal(array.ToFloats(), Read(stream.ToArray()).ToFloats());
    }

    [Fact]
    public void A_200_byte_file_declaring_half_a_billion_values_is_refused_before_any_allocation()
    {
        var bomb = NumpyFiles.Save("<f4", false, [500000, 1000], []);
        Assert.True(bomb.Length < 200);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => Read(bomb));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "refused without allocating the 2 GB it declares");
        Assert.Contains("2000000000 bytes", error.Message);
        Assert.Contains("[500000, 1000]", error.Message);
        Assert.Contains("only 0 bytes follow", error.Message);
    }

    [Fact]
    public void A_stream_that_cannot_tell_its_length_is_read_only_as_far_as_its_bytes_go()
    {
        var bomb = NumpyFiles.Save("<f4", false, [500000, 1000], [.. new double[16]]);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => NpyArray.Read(new ForwardOnlyStream(bomb), maxDataBytes: long.MaxValue));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "memory follows the bytes that arrive, not the header's claim");
        Assert.Contains("truncated", error.Message);
        // The default maximum refuses the claim outright.
        Assert.Contains("more than the 1073741824 bytes accepted", Assert.Throws<InvalidDataException>(() => NpyArray.Read(new ForwardOnlyStream(bomb))).Message);
    }

    [Fact]
    public void A_configured_maximum_refuses_a_real_array_larger_than_it()
    {
        var bytes = NumpyFiles.Save("<f4", false, [4, 4], new double[16]);
        var error = Assert.Throws<InvalidDataException>(() => NpyArray.Read(new MemoryStream(bytes), maxDataBytes: 32));
        Assert.Contains("64 bytes", error.Message);
        Assert.Contains("more than the 32 bytes accepted", error.Message);
    }

    public static TheoryData<string, byte[], string> Malformed()
    {
        var data = new TheoryData<string, byte[], string>();
        foreach (var (name, bytes, expected) in NumpyFiles.Malformed) data.Add(name, bytes, expected);
        return data;
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Each_malformed_file_gets_its_own_message(string name, byte[] bytes, string expected)
    {
        var error = Record.Exception(() => Read(bytes));
        Assert.True(error is InvalidDataException or NotSupportedException, $"{name}: {error?.GetType().Name}: {error?.Message}");
        Assert.Contains(expected, error!.Message);
    }

    [Fact]
    public void A_file_path_is_named_in_the_message()
    {
        var path = Path.Combine(Path.GetTempPath(), $"bomb-{Guid.NewGuid():N}.npy");
        File.WriteAllBytes(path, NumpyFiles.Save("<f4", false, [500000, 1000], []));
        try { Assert.StartsWith(path + ": truncated", Assert.Throws<InvalidDataException>(() => NpyArray.Read(path)).Message); }
        finally { File.Delete(path); }
    }

    /// <summary>A network-like stream: no length, no seeking.</summary>
    internal sealed class ForwardOnlyStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
