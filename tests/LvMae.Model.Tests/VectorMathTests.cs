namespace LvMae.Model.Tests;

public class VectorMathTests
{
    [Fact]
    public void Cosine_and_row_normalisation()
    {
        Assert.Equal(1, VectorMath.Cosine([1, 2, 3], [2, 4, 6]), 6);
        Assert.Equal(0, VectorMath.Cosine([1, 0], [0, 5]), 6);
        Assert.Equal(-1, VectorMath.Cosine([1, 1], [-3, -3]), 6);
        Assert.Equal(0, VectorMath.Cosine([0, 0], [1, 1]), 6);   // zero vector: 0, not NaN

        Assert.Equal(0.2, VectorMath.InverseNorm([3, 4]), 12);
        Assert.True(double.IsFinite(VectorMath.InverseNorm([0, 0])));   // a zero row: a finite factor, so it stays zero

        var rows = VectorMath.NormaliseRows([3, 4, 0, 0, 0, 2], 2);
        Assert.Equal(new float[] { 0.6f, 0.8f, 0, 0, 0, 1 }, rows);
    }
}
