using LvMae.Formats;

namespace LvMae.Model.Retrieval;

/// <summary>Caption embeddings in the segment encoder's joint text-video space (unit-normalised on
/// load) with their texts; cosine top-k search.</summary>
public sealed class CaptionIndex
{
    private readonly float[] embeddings;  // [C, D], unit rows
    public IReadOnlyList<string> Captions { get; }
    public int Dim { get; }

    public CaptionIndex(float[] embeddings, IReadOnlyList<string> captions, int dim)
    {
        if (embeddings.Length != captions.Count * dim) throw new ArgumentException($"{captions.Count} captions need {captions.Count} x {dim} floats, got {embeddings.Length}");
        Dim = dim;
        Captions = captions;
        this.embeddings = new float[embeddings.Length];
        for (var c = 0; c < captions.Count; c++)
        {
            var row = embeddings.AsSpan(c * dim, dim);
            var scale = VectorMath.InverseNorm(row);
            for (var k = 0; k < dim; k++) this.embeddings[c * dim + k] = (float)(row[k] * scale);
        }
    }

    /// <summary>Loads a .npy [C, D] of caption embeddings and a text file with one caption per line.</summary>
    public static CaptionIndex Load(string npyPath, string captionsPath)
    {
        var array = NpyArray.Read(npyPath);
        if (array.Shape.Length != 2) throw new InvalidDataException($"caption embeddings must be [C, D], got [{string.Join(", ", array.Shape)}]");
        var captions = File.ReadAllLines(captionsPath).Where(l => l.Length > 0).ToList();
        if (captions.Count != array.Shape[0]) throw new InvalidDataException($"{captionsPath} has {captions.Count} captions, {npyPath} has {array.Shape[0]} rows");
        return new CaptionIndex(array.ToFloats(), captions, (int)array.Shape[1]);
    }

    /// <summary>The k captions most cosine-similar to <paramref name="query"/>, best first.</summary>
    public IReadOnlyList<CaptionMatch> Search(ReadOnlySpan<float> query, int k)
    {
        if (query.Length != Dim) throw new ArgumentException($"query is {query.Length}-d, captions are {Dim}-d");
        var norm = Math.Max(Math.Sqrt(Dot(query, query)), 1e-12);
        var scores = new (double Score, int Index)[Captions.Count];
        for (var c = 0; c < Captions.Count; c++) scores[c] = (Dot(query, embeddings.AsSpan(c * Dim, Dim)) / norm, c);
        return scores.OrderByDescending(s => s.Score).ThenBy(s => s.Index).Take(k)
            .Select(s => new CaptionMatch(s.Index, Captions[s.Index], s.Score)).ToList();
    }

    private static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }
}

public sealed record CaptionMatch(int Index, string Caption, double Score);
