using System.Runtime;

namespace LvMae.Model.Tests;

public class TorchGcTests
{
    [Fact]
    public void Body_runs_in_a_no_gc_region_that_ends_with_it_even_on_error_and_nests()
    {
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
        var inner = TorchGc.NoCollection(() =>
        {
            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
            var before = GC.CollectionCount(0);
            var allocated = 0L;
            for (var i = 0; i < 64; i++) allocated += new byte[64 << 10].Length;   // 4 MiB of garbage, well inside the budget
            Assert.Equal(4L << 20, allocated);
            Assert.Equal(before, GC.CollectionCount(0));
            return TorchGc.NoCollection(() => GCSettings.LatencyMode);
        });
        Assert.Equal(GCLatencyMode.NoGCRegion, inner);   // a nested call runs inside the outer region
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);

        Assert.Throws<InvalidDataException>(() => TorchGc.NoCollection<int>(() => throw new InvalidDataException()));
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
    }
}
