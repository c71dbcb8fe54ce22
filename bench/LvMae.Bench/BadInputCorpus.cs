using System.Text;
using LvMae.Formats;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>How an input reaches the silo: the `lvmae` CLI (arguments) or the silo's HTTP API (a GET path).</summary>
public enum Feed { Cli, Http }

/// <summary>Which API key an HTTP input carries.</summary>
public enum ApiKey { Right, Wrong, None }

/// <summary>
/// One input of the bad-input corpus. <see cref="Expected"/> lists the final states that are right for it (Embedded,
/// Failed, "not registered", "refused" for a command refused before anything is sent, or an HTTP status);
/// <see cref="MustName"/> is the text a clear error has to contain to name the input (null: not asked).
/// </summary>
public sealed record BadInput(string Category, string Label, Feed Feed, string[] Args, string[] Expected, string? MustName, ApiKey Key = ApiKey.Right)
{
    /// <summary>A good input: part of the corpus that must proceed whatever the bad ones do.</summary>
    public bool IsGood => Feed == Feed.Cli && Expected is ["Embedded"];
}

/// <summary>
/// The corpus `./bench.sh badinput` feeds to one silo, one input at a time: good videos and imports interleaved with every
/// kind of bad input the tests generate (<see cref="BadMedia"/>, <see cref="NumpyFiles.Malformed"/>, <see cref="BadLabels"/>)
/// plus the large ones only a silo process can show the cost of (a 64-256 MiB .npy with a NaN at its end).
/// </summary>
public static class BadInputCorpus
{
    private static readonly string[] Refused = ["Failed", "not registered", "refused"];
    private static readonly string[] Embedded = ["Embedded"];

    public static async Task<List<BadInput>> BuildAsync(string work, bool quick)
    {
        var (videos, npys, csvs) = (Folder(work, "videos"), Folder(work, "npys"), Folder(work, "labels"));
        string V(string name) => Path.Combine(videos, name);
        string N(string name) => Path.Combine(npys, name);
        BadInput Ingest(string category, string path, string[] expected, params string[] more) =>
            new(category, Path.GetFileName(path), Feed.Cli, ["ingest", path, "--encoder", "builtin", .. more], expected, Path.GetFileName(path));
        BadInput Import(string category, string path, string[] expected) =>
            new(category, Path.GetFileName(path), Feed.Cli, ["import-embeddings", path], expected, Path.GetFileName(path));

        // ---- videos --------------------------------------------------------------------------------------------------
        var goods = new[] { ("good-a.mp4", 6.0, "testsrc2"), ("good-b.mkv", 11.0, "rgbtestsrc"), ("good-c.mp4", 8.0, "smptebars"),
            ("ünïcode 日本, commas; spaces.mp4", 6.0, "mandelbrot") };
        foreach (var (name, seconds, source) in goods) await TestVideos.GenerateAsync(V(name), seconds, source, size: 32, fps: 5);
        var full = Path.Combine(work, "full40.mkv");
        await TestVideos.GenerateAsync(full, 40, "testsrc2", size: 32, fps: 5, options: new TestVideoOptions { KeyframeInterval = 10 });
        var mp4 = Path.Combine(work, "full12.mp4"); // ffmpeg writes the mp4 index (moov) last: half a file has none
        await TestVideos.GenerateAsync(mp4, 12.3, "testsrc2", size: 32, fps: 5);
        await BadMedia.LyingDurationAsync(V("lying-1e9s.mkv"), 1e9);
        await BadMedia.LyingDurationAsync(V("lying-1e5s.mkv"), 1e5);
        await BadMedia.CutAsync(full, V("cut-70pct.mkv"), 0.7);
        await BadMedia.CutAsync(full, V("cut-30pct.mkv"), 0.3);
        await BadMedia.CutAsync(mp4, V("no-index.mp4"), 0.5);
        await BadMedia.HeadAsync(full, V("header-only.mkv"), 300);
        await BadMedia.Y4mHeaderAsync(V("huge-40000x40000.y4m"), 40000, 40000);
        await BadMedia.Y4mHeaderAsync(V("wide-20000x16.y4m"), 20000, 16);
        await BadMedia.RandomBytesAsync(V("random.mp4"), 50_000, seed: 7);
        await File.WriteAllBytesAsync(V("zeros.mp4"), new byte[100_000]);
        await File.WriteAllTextAsync(V("text.mp4"), "not a video, just text under a video's name\n");
        await File.WriteAllBytesAsync(V("empty.mp4"), []);
        await TestVideos.GenerateAudioOnlyAsync(V("audio-only.m4a"), 2);
        await TestVideos.GenerateImageAsync(V("image-as.mp4"), "mandelbrot", 64);
        await TestVideos.GenerateAsync(V("one-frame.mp4"), 0.1, "testsrc2", size: 32, fps: 10);
        await BadMedia.FifoAsync(V("pipe.mp4"));

        // ---- .npy imports --------------------------------------------------------------------------------------------
        await WriteFloatsAsync(N("good-import.npy"), 40, 64, nanAt: null);
        await File.WriteAllBytesAsync(N("fortran-big-endian.npy"), NumpyFiles.Save(">f4", true, [3, 4], [.. Enumerable.Range(0, 12).Select(i => i * 0.5)]));
        await File.WriteAllBytesAsync(N("bomb-500000x1000.npy"), NumpyFiles.Save("<f4", false, [500000, 1000], []));
        await WriteFloatsAsync(N("nan-small.npy"), 10, 64, nanAt: 9);
        await File.WriteAllBytesAsync(N("three-d.npy"), NumpyFiles.Save("<f4", false, [2, 3, 4], new double[24]));
        var bigRows = quick ? 64 * 1024 : 256 * 1024; // x 256 float32 = 64 / 256 MiB
        await WriteFloatsAsync(N($"nan-at-end-{bigRows * 256 * 4 >> 20}MiB.npy"), bigRows, 256, nanAt: bigRows - 1);
        await WriteFloatsAsync(N($"large-valid-{bigRows * 256 * 4 >> 20}MiB.npy"), bigRows, 256, nanAt: null);
        await File.WriteAllBytesAsync(N("日本 not an id.npy"), NumpyFiles.Save("<f4", false, [2, 2], [1, 2, 3, 4]));
        var malformed = quick ? NumpyFiles.Malformed.Take(6) : NumpyFiles.Malformed;
        var malformedInputs = new List<BadInput>();
        foreach (var (name, bytes, _) in malformed)
        {
            var path = N($"malformed-{name.Replace(' ', '-').Replace("(", "").Replace(")", "")}.npy");
            await File.WriteAllBytesAsync(path, bytes);
            malformedInputs.Add(Import($".npy: {name}", path, Refused));
        }

        // ---- labels CSVs (with a good, already embedded video: a refused CSV must stop nothing else) --------------------
        var csvInputs = new List<BadInput>();
        foreach (var (name, text, expected) in quick ? BadLabels.Refused.Where((_, i) => i % 3 == 0 || i == 5) : BadLabels.Refused)
        {
            var path = Path.Combine(csvs, name.Replace(' ', '-') + ".csv");
            await File.WriteAllTextAsync(path, text);
            csvInputs.Add(new BadInput($"labels CSV: {name}", Path.GetFileName(path), Feed.Cli, ["ingest", V("good-a.mp4"), "--encoder", "builtin", "--labels", path], ["refused"], Path.GetFileName(path)));
        }
        var odd = new List<BadInput>();
        for (var i = 0; i < BadLabels.Accepted("video", "odd.mp4").Count; i++)
        {
            // Each odd CSV labels its own video, which sits in a sibling folder of the CSV's (reached as ../video/odd.mp4).
            var root = Folder(work, $"odd{i}");
            var (videoDir, csvDir) = (Folder(root, "video"), Folder(root, "csv"));
            var (name, text, bom) = BadLabels.Accepted(videoDir, "odd.mp4")[i];
            var video = Path.Combine(videoDir, "odd.mp4");
            await TestVideos.GenerateAsync(video, 6, TestVideos.DistinctSources[(i + 3) % TestVideos.DistinctSources.Count], size: 32, fps: 5,
                options: new TestVideoOptions { HueDegrees = 40 * (i + 1) });
            var path = Path.Combine(csvDir, "labels.csv");
            await File.WriteAllTextAsync(path, text, new UTF8Encoding(bom));
            odd.Add(new BadInput($"labels CSV (odd, valid): {name}", $"odd{i}/csv/labels.csv", Feed.Cli, ["ingest", video, "--encoder", "builtin", "--labels", path], Embedded, null));
        }

        // ---- the order: good ones first, in the middle and last (the rest of the corpus proceeds) ------------------------
        var inputs = new List<BadInput>
        {
            Ingest("good video", V("good-a.mp4"), Embedded),
            Ingest("video: lying duration (1e9 s declared)", V("lying-1e9s.mkv"), Refused),
            Ingest("video: lying duration (1e5 s declared)", V("lying-1e5s.mkv"), Refused),
            Ingest("video: cut mid-stream at 70% (embedded up to the cut)", V("cut-70pct.mkv"), Embedded),
            Ingest("video: cut mid-stream at 30%", V("cut-30pct.mkv"), Refused),
            Ingest("video: mp4 cut in half (no index)", V("no-index.mp4"), Refused),
            Ingest("video: container header only (300 B)", V("header-only.mkv"), Refused),
            Ingest("video: declared 40000x40000 frames", V("huge-40000x40000.y4m"), Refused),
            Ingest("video: declared 20000x16 frames", V("wide-20000x16.y4m"), Refused),
            Ingest("good video", V("good-b.mkv"), Embedded),
            Ingest("video: random bytes", V("random.mp4"), Refused),
            Ingest("video: 100 kB of zeros", V("zeros.mp4"), Refused),
            Ingest("video: text under a video name", V("text.mp4"), Refused),
            Ingest("video: empty file", V("empty.mp4"), Refused),
            Ingest("video: audio only", V("audio-only.m4a"), Refused),
            Ingest("video: a still image", V("image-as.mp4"), Refused),
            Ingest("video: one frame (0.1 s)", V("one-frame.mp4"), Refused),
            Ingest("video: a named pipe", V("pipe.mp4"), Refused),
            Ingest("good video: unicode, commas in its name", V(goods[3].Item1), Embedded),
            Import("good import", N("good-import.npy"), Embedded),
            Import(".npy: Fortran order, big-endian (converted)", N("fortran-big-endian.npy"), Embedded),
            Import(".npy: header declares [500000, 1000], no data", N("bomb-500000x1000.npy"), Refused),
            Import(".npy: NaN in the last row", N("nan-small.npy"), Refused),
            Import(".npy: 3-d array", N("three-d.npy"), Refused),
            Import($".npy: {bigRows * 256 * 4 >> 20} MiB with a NaN in its last row", N($"nan-at-end-{bigRows * 256 * 4 >> 20}MiB.npy"), Refused),
            Import($"large import ({bigRows * 256 * 4 >> 20} MiB, valid)", N($"large-valid-{bigRows * 256 * 4 >> 20}MiB.npy"), Embedded),
            Import("import named by no video id (its content id is used)", N("日本 not an id.npy"), Embedded),
        };
        inputs.AddRange(malformedInputs);
        inputs.AddRange(csvInputs);
        inputs.AddRange(odd);
        inputs.AddRange(HttpInputs());
        inputs.Add(Ingest("good video (last)", V("good-c.mp4"), Embedded));
        return inputs;
    }

    /// <summary>Requests a client could send: malformed ids, huge limits and filters, unknown parameters, wrong or no API key.</summary>
    private static IEnumerable<BadInput> HttpInputs()
    {
        string[] bad = ["400", "404", "414"];
        BadInput Get(string category, string path, string[] expected, string? mustName, ApiKey key = ApiKey.Right) =>
            new(category, path.Length > 60 ? path[..57] + "..." : path, Feed.Http, [path], expected, mustName, key);
        return
        [
            Get("HTTP: path traversal id", "videos/..%2F..%2Fetc%2Fpasswd", bad, null),
            Get("HTTP: 4000-character id", "videos/" + new string('a', 4000), bad, null),
            Get("HTTP: unknown id", "videos/no-such-video", ["404"], "no-such-video"),
            Get("HTTP: limit beyond int", "videos?limit=99999999999", ["400"], "99999999999"),
            Get("HTTP: negative limit", "videos?limit=-1", ["400"], "-1"),
            Get("HTTP: largest limit (allowed)", "videos?limit=10000", ["200"], null),
            Get("HTTP: unknown parameter", "videos?stat=Failed", ["400"], "stat"),
            Get("HTTP: 6 kB label filter", "videos?label=" + new string('x', 6000), ["400"], "label"),
            Get("HTTP: 20 kB label filter", "videos?label=" + new string('x', 20000), bad, null),
            Get("HTTP: garbage cursor", "videos?cursor=%00%FF garbage", ["400"], "cursor"),
            Get("HTTP: run name traversal, huge rows", "runs/..%2Fx/metrics?rows=99999999", bad, null),
            Get("HTTP: wrong API key", "corpus/summary", ["401"], "X-Api-Key", ApiKey.Wrong),
            Get("HTTP: no API key", "videos?limit=10000", ["401"], "X-Api-Key", ApiKey.None),
        ];
    }

    private static string Folder(string parent, string name)
    {
        var dir = Path.Combine(parent, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A float32 [rows, dim] .npy as the product writes one (seeded values), with a NaN in row <paramref name="nanAt"/> if given.</summary>
    private static Task WriteFloatsAsync(string path, int rows, int dim, int? nanAt)
    {
        var rng = new Random(rows);
        var values = new float[rows * dim];
        for (var i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        if (nanAt is { } row) values[row * dim + dim / 2] = float.NaN;
        return Task.Run(() => NpyArray.FromFloats(values, rows, dim).Write(path));
    }
}
