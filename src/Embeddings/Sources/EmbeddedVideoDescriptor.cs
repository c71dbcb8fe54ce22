namespace LvMae.Pipeline;

/// <summary>
/// One video whose segment embeddings exist for <see cref="Encoder"/>: what a source lists and a loader loads.
/// <see cref="SegmentCount"/> and <see cref="Dimension"/> are 0 when the source does not know them
/// (a plain blob listing); the loader then learns them from the .npy header and checks them there.
/// </summary>
/// <param name="Labels">Task name -> class label (e.g. "genre" -> "comedy"), when the corpus has labels.</param>
public sealed record EmbeddedVideoDescriptor(
    string VideoId,
    string Encoder,
    int SegmentCount = 0,
    int Dimension = 0,
    IReadOnlyDictionary<string, string>? Labels = null);
