using System.Collections.Concurrent;
using System.Globalization;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using LvMae.Formats;
using LvMae.Storage;

namespace LvMae.Pipeline;

/// <summary>
/// Reads <c>videos/&lt;id&gt;/embeddings/&lt;encoder&gt;.npy</c> from a container and validates it: whole
/// (<see cref="LoadAsync"/>), or the header first and then only the rows a training window needs, by HTTP range
/// (<see cref="OpenAsync"/>), so an hour-long video does not travel whole for a 30-second window. Validated headers
/// are remembered (up to <paramref name="headerCacheEntries"/>, a few hundred bytes each), so from a video's second
/// window on a window is one request; its rows are read only if the blob still has the header's ETag.
/// </summary>
public sealed class BlobEmbeddingLoader(BlobContainerClient container, int headerCacheEntries = 100_000) : IEmbeddingLoader
{
    /// <summary>The first request of a range read: the preamble and header (NumPy writes 128 bytes for a 2-D array).</summary>
    public const int HeaderProbeBytes = 4096;

    /// <summary>A validated header and the blob version it belongs to.</summary>
    private sealed record OpenedBlob(NpyArray.NpyHeader Header, ETag ETag);

    private readonly ConcurrentDictionary<string, OpenedBlob> _headers = new(StringComparer.Ordinal);

    public async Task<LoadedEmbeddings> LoadAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
    {
        var name = BlobLayout.Embeddings(video.VideoId, video.Encoder);
        BinaryData content;
        try
        {
            // Whole blob into memory with async I/O, then parse: NpyArray reads synchronously.
            content = (await container.GetBlobClient(name).DownloadContentAsync(cancellationToken)).Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new EmbeddingLoadException(video.VideoId, $"embedding blob '{name}' not found", e);
        }

        NpyArray array;
        try
        {
            using var stream = content.ToStream();
            array = NpyArray.Read(stream);
        }
        catch (Exception e) when (IsCorrupt(e))
        {
            throw Corrupt(video, name, e);
        }
        return EmbeddingValidation.ToEmbeddings(video, array, name);
    }

    /// <summary>
    /// Reads and validates the header (one small range request; a second only for a header over
    /// <see cref="HeaderProbeBytes"/>) and checks the blob is as long as the header says. Rows come later, by range,
    /// on the condition that the blob is still the one whose header was read (its ETag).
    /// </summary>
    public async Task<IEmbeddingRows> OpenAsync(EmbeddedVideoDescriptor video, CancellationToken cancellationToken = default)
    {
        var name = BlobLayout.Embeddings(video.VideoId, video.Encoder);
        var blob = container.GetBlobClient(name);
        if (!_headers.TryGetValue(name, out var opened))
        {
            opened = await ReadHeaderAsync(video, blob, cancellationToken);
            if (_headers.Count < headerCacheEntries) _headers[name] = opened;
        }
        // Checked on every open: the descriptor (the index's view of the video) may have changed since.
        var (segments, dimension) = EmbeddingValidation.CheckShape(video, opened.Header.CanonicalDType, opened.Header.Shape, name);
        // A Fortran-ordered file keeps a row's values apart (column-major): no range covers a window; read it whole.
        if (opened.Header.FortranOrder && segments > 1 && dimension > 1) return new LoadedEmbeddingRows(await LoadAsync(video, cancellationToken));
        return new Rows(video, blob, opened.Header, segments, dimension, opened.ETag, () => _headers.TryRemove(name, out _));
    }

    private static async Task<OpenedBlob> ReadHeaderAsync(EmbeddedVideoDescriptor video, BlobClient blob, CancellationToken cancellationToken)
    {
        var name = blob.Name;
        var probe = await DownloadRangeAsync(video, blob, 0, HeaderProbeBytes, etag: null, cancellationToken);
        NpyArray.NpyHeader header;
        try { header = ParseHeader(probe.Bytes); }
        catch (Exception e) when (IsCorrupt(e) && probe.Bytes.Length < probe.TotalBytes)
        {
            // A header longer than the probe (legal, if unusual): read exactly as far as it can reach, then parse strictly.
            var longer = await DownloadRangeAsync(video, blob, 0, (int)Math.Min(probe.TotalBytes, 12 + (1 << 20)), probe.ETag, cancellationToken);
            try { header = ParseHeader(longer.Bytes); }
            catch (Exception again) when (IsCorrupt(again)) { throw Corrupt(video, name, again); }
        }
        catch (Exception e) when (IsCorrupt(e))
        {
            throw Corrupt(video, name, e);
        }

        EmbeddingValidation.CheckShape(video, header.CanonicalDType, header.Shape, name);
        if (probe.TotalBytes < header.FileBytes)
            throw Corrupt(video, name, new InvalidDataException(
                $"truncated .npy file: {probe.TotalBytes} bytes where the header [{string.Join(", ", header.Shape)}] needs {header.FileBytes}"));
        return new OpenedBlob(header, probe.ETag);
    }

    private static NpyArray.NpyHeader ParseHeader(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return NpyArray.ReadHeader(stream);
    }

    private static bool IsCorrupt(Exception e) => e is InvalidDataException or NotSupportedException or OverflowException;

    private static EmbeddingLoadException Corrupt(EmbeddedVideoDescriptor video, string name, Exception e) =>
        new(video.VideoId, $"{name}: corrupt .npy ({e.Message})", e);

    private sealed record RangeRead(byte[] Bytes, long TotalBytes, ETag ETag);

    /// <summary>Bytes [offset, offset + length) of the blob (fewer at its end), its total length and ETag.</summary>
    private static async Task<RangeRead> DownloadRangeAsync(EmbeddedVideoDescriptor video, BlobClient blob, long offset, int length,
        ETag? etag, CancellationToken cancellationToken)
    {
        var options = new BlobDownloadOptions
        {
            Range = new HttpRange(offset, length),
            Conditions = etag is { } tag ? new BlobRequestConditions { IfMatch = tag } : null,
        };
        try
        {
            var result = (await blob.DownloadContentAsync(options, cancellationToken)).Value;
            return new RangeRead(result.Content.ToArray(), TotalLength(result.Details.ContentRange, result.Details.ContentLength), result.Details.ETag);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new EmbeddingLoadException(video.VideoId, $"embedding blob '{blob.Name}' not found", e);
        }
        catch (RequestFailedException e) when (e.Status == 416)
        {
            throw Corrupt(video, blob.Name, new InvalidDataException($"truncated .npy file: the blob ends before byte {offset}"));
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw new EmbeddingLoadException(video.VideoId, $"embedding blob '{blob.Name}' was rewritten while it was being read", e);
        }
    }

    /// <summary>The blob's length from "bytes first-last/total" (a server answering a range request with the whole blob sends no range).</summary>
    private static long TotalLength(string? contentRange, long contentLength)
    {
        var slash = contentRange?.LastIndexOf('/') ?? -1;
        return slash >= 0 && long.TryParse(contentRange.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var total)
            ? total
            : contentLength;
    }

    /// <summary>An opened embedding blob: rows by range request, only from the version whose header was validated.</summary>
    /// <param name="forget">Drops the remembered header: the blob was rewritten, its next open reads it afresh.</param>
    private sealed class Rows(EmbeddedVideoDescriptor video, BlobClient blob, NpyArray.NpyHeader header,
        int segments, int dimension, ETag etag, Action forget) : IEmbeddingRows
    {
        public int SegmentCount => segments;
        public int Dimension => dimension;

        public async Task<float[]> ReadRowsAsync(int first, int count, CancellationToken cancellationToken = default)
        {
            EmbeddingValidation.CheckRowRange(video.VideoId, first, count, segments);
            var rowBytes = (long)dimension * header.ItemBytes;
            var length = checked((int)(count * rowBytes));
            RangeRead read;
            try { read = await DownloadRangeAsync(video, blob, header.DataOffset + first * rowBytes, length, etag, cancellationToken); }
            catch (EmbeddingLoadException)
            {
                forget();
                throw;
            }
            if (read.Bytes.Length != length)
                throw Corrupt(video, blob.Name, new InvalidDataException($"truncated .npy file: {read.Bytes.Length} of {length} bytes for rows [{first}, {first + count})"));
            // C order: the rows are contiguous; ToCanonical swaps big-endian bytes like a whole read does.
            var rows = (header with { Shape = [count, dimension] }).ToCanonical(read.Bytes);
            return EmbeddingValidation.ToFiniteFloats(video, rows, first, blob.Name);
        }
    }
}
