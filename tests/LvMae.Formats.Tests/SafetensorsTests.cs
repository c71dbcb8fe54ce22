using System.Buffers.Binary;
using System.Text;

namespace LvMae.Formats.Tests;

/// <summary>safetensors files whose header lies about sizes or is malformed: each refused with a message, nothing allocated for the lie.</summary>
public sealed class SafetensorsTests
{
    private static byte[] File(string header, int dataBytes = 0)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public void Tensors_round_trip()
    {
        var bytes = Safetensors.ToBytes(new Dictionary<string, SafeTensor> { ["w"] = SafeTensor.FromFloats([1, 2, 3, 4, 5, 6], 2, 3) }, new Dictionary<string, string> { ["step"] = "7" });
        var read = Safetensors.Read(bytes);
        Assert.Equal([1f, 2, 3, 4, 5, 6], read.Tensors["w"].ToFloats());
        Assert.Equal("7", read.Metadata["step"]);
    }

    [Fact]
    public void A_header_declaring_gigabytes_of_tensors_in_a_tiny_file_is_refused_before_allocating()
    {
        var bomb = File("""{"w":{"dtype":"F32","shape":[500000,1000],"data_offsets":[0,2000000000]}}""");
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => Safetensors.Read(bomb));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains("declared as 2000000000 bytes, only 0 are left", error.Message);
    }

    [Fact]
    public void A_header_length_beyond_the_file_is_refused_before_allocating()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 90_000_000);
        Assert.Contains("its header declared as 90000000 bytes, only 8 are left", Assert.Throws<InvalidDataException>(() => Safetensors.Read(bytes)).Message);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        Assert.Contains("implausible", Assert.Throws<InvalidDataException>(() => Safetensors.Read(bytes)).Message);
    }

    public static TheoryData<string, string> MalformedHeaders => new()
    {
        { "not json", "not valid JSON" },
        { "[1,2]", "not a JSON object" },
        { """{"w":{"shape":[2],"data_offsets":[0,8]}}""", "'w': no dtype" },
        { """{"w":{"dtype":"F32","data_offsets":[0,8]}}""", "'w': no shape" },
        { """{"w":{"dtype":"F32","shape":[2]}}""", "'w': no data_offsets" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", "data_offsets has 1 values" },
        { """{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "negative dimension" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", "do not span the 8 bytes" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", "do not span" },
        { """{"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}""", "'Q7' is not supported" },
        { """{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", "too large to address" },
        { """{"w":{"dtype":"F32","shape":["two"],"data_offsets":[0,8]}}""", "'w': malformed" },
        { """{"__metadata__":{"step":7}}""", "metadata 'step' is not a string" },
    };

    [Theory]
    [MemberData(nameof(MalformedHeaders))]
    public void Each_malformed_header_gets_its_own_message(string header, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => Safetensors.Read(File(header, 8)));
        Assert.Contains(expected, error.Message);
    }
}
