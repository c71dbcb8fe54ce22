namespace LvMae.Model;

/// <summary>Row arithmetic on plain float arrays (CPU, no tensors): cosine similarity and L2 normalisation.</summary>
public static class VectorMath
{
    /// <summary>cos(a, b); 0 when either is zero.</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return dot / Math.Max(Math.Sqrt(na * nb), 1e-12);
    }

    /// <summary>1 / |row| (a zero row gets a large finite factor and stays zero).</summary>
    public static double InverseNorm(ReadOnlySpan<float> row)
    {
        double norm = 0;
        foreach (var x in row) norm += x * x;
        return 1 / Math.Max(Math.Sqrt(norm), 1e-12);
    }

    /// <summary>Every row of a row-major [rows, dim] array scaled to unit length (a new array).</summary>
    public static float[] NormaliseRows(ReadOnlySpan<float> rows, int dim)
    {
        var result = new float[rows.Length];
        for (var j = 0; j < rows.Length / dim; j++)
        {
            var row = rows.Slice(j * dim, dim);
            var scale = (float)InverseNorm(row);
            for (var k = 0; k < dim; k++) result[j * dim + k] = row[k] * scale;
        }
        return result;
    }
}
