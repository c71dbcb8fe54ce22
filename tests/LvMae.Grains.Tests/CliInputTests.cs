using System.Text.Json;
using LvMae.Cli;
using LvMae.Client;
using LvMae.Formats;
using LvMae.Silo;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>
/// Bad input through `lvmae`, as a user types it: argument errors are refused before any silo is needed, and a corpus of
/// broken files and labels goes through a real silo where each gets its own error and the rest proceeds. Output here is
/// redirected (captured), so result tables must come out as whole, tab-separated lines.
/// </summary>
[Collection(SiloHostCollection.Name)]
public sealed class CliInputTests(SiloHostFixture fixture)
{
    private static Task<(int Code, string Output)> RunAsync(params string[] args) => InProcessCli.RunAsync(args);

    private LvMaeSiloSettings Settings(string name) => new()
    {
        Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = name },
        Clustering = new ClusteringOptions { SiloPort = SiloHostTests.FreePort(), GatewayPort = SiloHostTests.FreePort(), ClusterId = name, ServiceId = name },
        Processing = new ProcessingOptions { MaxConcurrentJobs = 2, RetryBaseDelay = TimeSpan.FromMilliseconds(100) },
        Api = new ApiOptions { Port = 0 },
        Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning },
    };

    private string Dir(string name)
    {
        var dir = Path.Combine(fixture.MediaDir, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public async Task Argument_errors_name_the_argument_and_need_no_silo()
    {
        var root = Dir("args");
        var video = Path.Combine(root, "ok.mp4");
        await TestVideos.GenerateAsync(video, 2, size: 32, fps: 5);
        var namedLikeAVideo = Dir(Path.Combine("args", "clips.mp4"));
        await File.WriteAllTextAsync(Path.Combine(namedLikeAVideo, "notes.txt"), "not a video");
        var empty = Dir(Path.Combine("args", "empty"));
        var badCsv = Path.Combine(root, "bad.csv");
        await File.WriteAllTextAsync(badCsv, "file,activity,split\nok.mp4,cook\n");

        (string[] Args, string Says)[] cases =
        [
            (["ingest", namedLikeAVideo + "/"], $"'{namedLikeAVideo}/' is a folder (named like a video file, but not one) with 1 file(s), none a video file (.avi"),
            (["ingest", empty], $"'{empty}' is a folder with no files in it"),
            (["ingest", Path.Combine(root, "missing.mp4")], $"no file, directory or glob matches '{Path.Combine(root, "missing.mp4")}'"),
            (["ingest", Path.Combine(root, "*.mkv")], $"'{Path.Combine(root, "*.mkv")}' matches no video file"),
            (["ingest", video, "--labels", badCsv], $"{badCsv} line 2: 2 cells, the header has 3"),
            (["ingest", video, "--labels", root], "is a directory, not a CSV file"),
            (["ingest", video, "--labels", Path.Combine(root, "nope.csv")], "labels file not found"),
            (["ingest", video, "--parallel", "0"], "--parallel must be at least 1 (got 0)"),
            (["import-embeddings", empty], $"'{empty}' is a folder with no files in it"),
            (["import-embeddings", root, "--encoder-name", "..."], "invalid encoder name"),
        ];
        // Nothing listens on these ports: had any command connected, it would have exited NoSilo.
        using (InProcessCli.Target(Settings("cli-args")))
            foreach (var (args, says) in cases)
            {
                var (code, output) = await RunAsync(args);
                Assert.True(code == ExitCodes.Usage, $"lvmae {string.Join(' ', args)}: exit {code}\n{output}");
                Assert.True(Flat(output).Contains(says, StringComparison.Ordinal), $"lvmae {string.Join(' ', args)} does not say \"{says}\":\n{output}");
            }
    }

    /// <summary>The output as one line: proves a message was not split, because nothing here is wrapped.</summary>
    private static string Flat(string output) => output.ReplaceLineEndings("\n");

    [Fact]
    public async Task A_corpus_of_bad_videos_npys_and_labels_each_gets_its_own_error_and_the_rest_proceeds()
    {
        var settings = Settings("cli-corpus");
        var videos = Dir("corpus-videos");
        var longName = "a very long file name that a terminal table would wrap over two lines - ünïcode, commas, and more.mp4";
        await TestVideos.GenerateAsync(Path.Combine(videos, longName), 6, "testsrc2", size: 32, fps: 5);
        await TestVideos.GenerateAsync(Path.Combine(videos, "good.mkv"), 11, "rgbtestsrc", size: 32, fps: 5);
        var full = Path.Combine(fixture.MediaDir, "full40.mkv");
        await TestVideos.GenerateAsync(full, 40, "testsrc2", size: 32, fps: 5, options: new TestVideoOptions { KeyframeInterval = 10 });
        await BadMedia.CutAsync(full, Path.Combine(videos, "cut.mkv"), 0.7);
        await BadMedia.LyingDurationAsync(Path.Combine(videos, "lying.mkv"), 1e9);
        await File.WriteAllTextAsync(Path.Combine(videos, "text.mp4"), "not a video\n");
        await BadMedia.FifoAsync(Path.Combine(videos, "pipe.mp4"));
        var labels = Path.Combine(fixture.MediaDir, "corpus-labels.csv");
        await File.WriteAllTextAsync(labels, $"file,note,label\n\"{longName}\",\"a, b\",long\ngood.mkv,plain,good\nghost.mp4,x,y\n", new System.Text.UTF8Encoding(true));

        var npys = Dir("corpus-npys");
        await File.WriteAllBytesAsync(Path.Combine(npys, "fortran-be.npy"), NumpyFiles.Save(">f4", true, [3, 4], [.. Enumerable.Range(0, 12).Select(i => i * 0.5)]));
        await File.WriteAllBytesAsync(Path.Combine(npys, "bomb.npy"), NumpyFiles.Save("<f4", false, [500000, 1000], []));

        using (InProcessCli.Target(settings))
        await using (await LvMaeSiloHost.StartAsync(settings))
        {
            var (code, output) = await RunAsync("ingest", videos, "--encoder", "builtin", "--labels", labels);
            Assert.True(code == ExitCodes.Failed, output); // some inputs are bad; the good ones are embedded anyway
            Assert.Contains($"{labels}: 1 row(s) match no input: line 4 'ghost.mp4'", Flat(output));
            var rows = Rows(output, "file\tvideo id\tstate\tdetail");
            Assert.Equal("Embedded", rows[longName][1]);
            Assert.Equal("Embedded", rows["good.mkv"][1]);
            Assert.Equal("Embedded", rows["cut.mkv"][1]);
            Assert.Equal("not registered", rows["pipe.mp4"][1]);
            Assert.Contains("not a regular file (a pipe or device)", rows["pipe.mp4"][2]);
            Assert.Equal("Failed", rows["lying.mkv"][1]);
            Assert.Contains("declares a duration of 1000000000 s", rows["lying.mkv"][2]);
            Assert.Equal("Failed", rows["text.mp4"][1]);

            var (_, json) = await RunAsync("status", "--json");
            using var status = JsonDocument.Parse(json);
            var failures = status.RootElement.GetProperty("failures").EnumerateArray()
                .ToDictionary(f => f.GetProperty("originalName").GetString()!, f => f.GetProperty("failureKind").GetString());
            Assert.Equal("TooLong", failures["lying.mkv"]);
            Assert.Equal("NotMedia", failures["text.mp4"]);
            Assert.Equal(5, status.RootElement.GetProperty("summary").GetProperty("total").GetInt32()); // the pipe was never sent
            var cut = await VideoByNameAsync("cut.mkv");
            Assert.InRange(cut.GetProperty("segmentCount").GetInt32(), 4, 7); // the cut's segments, not the 8 of 40 s
            var longOne = await VideoByNameAsync(longName);
            Assert.Equal(["long", "note=a, b"], longOne.GetProperty("labels").EnumerateArray().Select(l => l.GetString()).Order(StringComparer.Ordinal));

            // Redirected status tables: whole names on one line each.
            var (_, failedTable) = await RunAsync("status", "--state", "Failed");
            var listed = Rows(failedTable, "video id\tstate\tencoder\tlabels\tsegments\tfailure");
            Assert.Equal(2, listed.Count);

            var (importCode, imported) = await RunAsync("import-embeddings", npys);
            Assert.True(importCode == ExitCodes.Failed, imported);
            var npyRows = Rows(imported, "file\tvideo id\tstate\tdetail");
            Assert.Equal("Embedded", npyRows["fortran-be.npy"][1]);
            Assert.Equal("Failed", npyRows["bomb.npy"][1]);
            Assert.Contains("declares 2000000000 bytes for shape [500000, 1000]", npyRows["bomb.npy"][2]);

            // Labels with commas survive export-embeddings' CSV (quoted), read back by the same reader.
            var exportDir = Path.Combine(fixture.MediaDir, "corpus-export");
            var (exportCode, exported) = await RunAsync("export-embeddings", "--out", exportDir, "--encoder", "builtin");
            Assert.True(exportCode == ExitCodes.Ok, exported);
            var csv = CsvFile.Read(Path.Combine(exportDir, "labels.csv"));
            var header = csv[0].Cells.ToList();
            Assert.Contains(csv.Skip(1), r => r.Cells[header.IndexOf("note")] == "a, b");
        }

        async Task<JsonElement> VideoByNameAsync(string name)
        {
            var (_, json) = await RunAsync("status", "--state", "Embedded", "--json");
            return JsonDocument.Parse(json).RootElement.GetProperty("items").EnumerateArray()
                .Single(e => e.GetProperty("originalName").GetString() == name).Clone();
        }
    }

    /// <summary>The tab-separated rows after <paramref name="header"/>, by their first cell; fails if any row is split.</summary>
    private static Dictionary<string, string[]> Rows(string output, string header)
    {
        var lines = output.ReplaceLineEndings("\n").Split('\n').ToList();
        var start = lines.IndexOf(header);
        Assert.True(start >= 0, $"no table with header '{header}' in:\n{output}");
        var columns = header.Split('\t').Length;
        var rows = new Dictionary<string, string[]>();
        foreach (var line in lines.Skip(start + 1).TakeWhile(l => l.Contains('\t')))
        {
            var cells = line.Split('\t');
            Assert.True(cells.Length == columns, $"a row split over lines or with stray tabs: '{line}'");
            rows[cells[0]] = [.. cells.Skip(1)];
        }
        return rows;
    }
}
