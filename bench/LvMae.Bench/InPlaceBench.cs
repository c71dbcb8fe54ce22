using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using LvMae.Testing;

namespace LvMae.Bench;

/// <summary>
/// Videos already in blob storage, registered in place (`./bench.sh inplace [--videos N]`): small generated videos are
/// uploaded to a source container first (not measured), then `lvmae ingest --container corpus --prefix clips/` (its own
/// process) registers them and a silo process embeds them with the builtin encoder, reading each where it is. Reports
/// registrations/s, the silo's and the emulator's CPU per video (apart), the silo's storage requests and bytes per video by
/// category (sources read, data and state written), and checks that the data container holds no copy of a source.
/// </summary>
public sealed class InPlaceBench : IBenchSuite
{
    public string Name => "inplace";

    private const string Corpus = "corpus";

    public async Task<string> RunAsync(BenchContext context)
    {
        var total = context.Videos ?? (context.Quick ? 200 : 10_000);
        var work = Directory.CreateTempSubdirectory("lvmae-inplace-").FullName;
        var azurite = context.NewAzurite();
        await azurite.InitializeAsync();
        ExternalSilo? silo = null;
        try
        {
            var upload = Stopwatch.StartNew();
            var sourceBytes = await UploadCorpusAsync(azurite, work, total);
            Console.WriteLine($"inplace: {total:N0} videos ({sourceBytes / 1024.0 / 1024.0:F0} MiB) uploaded to '{Corpus}' in {upload.Elapsed.TotalSeconds:F0} s");

            var env = ScaleBench.SiloSettings(azurite, "inplace");
            silo = await ExternalSilo.StartAsync("inplace-silo", env, work);
            var cliEnv = ScaleBench.ClientSettings(env, silo);
            using var http = new HttpClient { BaseAddress = silo.Api, Timeout = TimeSpan.FromSeconds(30) };

            var traffic0 = await TrafficAsync(http);
            var (silo0, storage0) = (ProcessStats.CpuSeconds(silo.Pid), ScaleBench.StorageCpuSeconds(azurite));
            var watch = Stopwatch.StartNew();
            var register = await ScaleBench.RunCliAsync(cliEnv, work, "ingest", "--container", Corpus, "--prefix", "clips/", "--encoder", "builtin", "--no-wait", "--parallel", "16");
            var registerSeconds = watch.Elapsed.TotalSeconds;
            if (register.Code != 0) throw new InvalidOperationException($"ingest in place failed ({register.Code}): {CliProcess.Tail(register.Output, 20)}");
            var (silo1, storage1) = (ProcessStats.CpuSeconds(silo.Pid), ScaleBench.StorageCpuSeconds(azurite));
            var traffic1 = await TrafficAsync(http);

            JsonElement summary;
            while (true)
            {
                summary = await http.GetFromJsonAsync<JsonElement>("corpus/summary");
                var byStage = summary.GetProperty("byStage");
                var done = Count(byStage, "Embedded") + Count(byStage, "Failed");
                if (done >= total) break;
                if (silo.HasExited) throw new InvalidOperationException($"the silo died: {ExternalSilo.Tail(silo.LogPath)}");
                await Task.Delay(1000);
            }
            var embedSeconds = watch.Elapsed.TotalSeconds;
            var (silo2, storage2) = (ProcessStats.CpuSeconds(silo.Pid), ScaleBench.StorageCpuSeconds(azurite));
            var traffic2 = await TrafficAsync(http);
            var embedded = Count(summary.GetProperty("byStage"), "Embedded");
            var verify = await ScaleBench.RunCliAsync(cliEnv, work, "verify");
            var peakRss = ProcessStats.PeakRssMiB(silo.Pid);

            // Whatever the silo wrote in its data container: segments and embeddings per video, never a source.
            var data = new BlobContainerClient(azurite.ConnectionString, "inplace");
            long dataBlobs = 0, sourceCopies = 0;
            await foreach (var blob in data.GetBlobsAsync())
            {
                dataBlobs++;
                if (blob.Name.Contains("/source", StringComparison.Ordinal)) sourceCopies++;
            }

            var md = new StringBuilder();
            md.AppendLine($"### {total:N0} videos registered in place (`lvmae ingest --container {Corpus} --prefix clips/ --encoder builtin --no-wait --parallel 16`, its own process) and embedded by one silo process");
            md.AppendLine();
            md.AppendLine($"Source videos: 3 s, 32x32, 5 fps ({sourceBytes / (double)total / 1024:F1} KiB each), uploaded to the container `{Corpus}` of the cluster's account before the run. " +
                          $"Storage: Azurite{(context.MariaDbStorage ? " with its blob metadata in MariaDB" : context.InMemoryStorage ? " in memory" : "")}. CPU is per process: the silo (with its ffmpeg children) and the emulator (Azurite, and MariaDB when it holds the metadata), apart.");
            md.AppendLine();
            md.AppendLine("| phase | wall s | videos/s | silo CPU ms / video | storage CPU ms / video |");
            md.AppendLine("|---|---:|---:|---:|---:|");
            md.AppendLine($"| registration (list + register) | {registerSeconds:F1} | {total / registerSeconds:F0} | {(silo1 - silo0) * 1000 / total:F2} | {(storage1 - storage0) * 1000 / total:F2} |");
            md.AppendLine($"| registration to all Embedded | {embedSeconds:F1} | {total / embedSeconds:F1} | {(silo2 - silo0) * 1000 / total:F1} | {(storage2 - storage0) * 1000 / total:F1} |");
            md.AppendLine();
            md.AppendLine("The silo's storage traffic per video, from its own counters (GET /silo/storage), registration to all Embedded:");
            md.AppendLine();
            md.AppendLine("| category | requests / video | bytes read / video | bytes written / video |");
            md.AppendLine("|---|---:|---:|---:|");
            foreach (var category in traffic2.Keys.Order(StringComparer.Ordinal))
            {
                var (requests, read, written) = Minus(traffic2[category], traffic0.GetValueOrDefault(category));
                md.AppendLine($"| {category} | {requests / (double)total:F2} | {read / (double)total:F0} | {written / (double)total:F0} |");
            }
            md.AppendLine();
            md.AppendLine($"- Embedded: {embedded:N0} of {total:N0}; `lvmae verify` exit {verify.Code}; silo peak RSS {peakRss:F0} MiB.");
            md.AppendLine($"- Data container: {dataBlobs:N0} blobs, **{sourceCopies} copies of a source** (the silo read each source where it is, into scratch).");
            md.AppendLine($"- Registration alone, the silo's storage traffic for all {total:N0} videos: {Minus(traffic1, traffic0)}.");
            md.AppendLine("- The client lists names and properties only: no byte of a video passes through it (the in-place path has no download; `CliTests.Ingest_registers_blobs_in_place_and_never_copies_them`).");
            return md.ToString();
        }
        finally
        {
            if (silo is not null) await silo.DisposeAsync();
            await azurite.DisposeAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>A few distinct small videos, uploaded under <paramref name="total"/> names (in place, a video is its name: copies are distinct videos). Returns the bytes uploaded.</summary>
    private static async Task<long> UploadCorpusAsync(AzuriteFixture azurite, string work, int total)
    {
        var files = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var path = Path.Combine(work, $"src-{i}.mp4");
            await TestVideos.GenerateAsync(path, 3, TestVideos.DistinctSources[i % TestVideos.DistinctSources.Count], size: 32, fps: 5,
                options: new TestVideoOptions { HueDegrees = i * 40 });
            files.Add(path);
        }
        var container = new BlobContainerClient(azurite.ConnectionString, Corpus);
        await container.CreateIfNotExistsAsync();
        var contents = files.Select(f => BinaryData.FromBytes(File.ReadAllBytes(f))).ToList();
        long bytes = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, total), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            var content = contents[i % contents.Count];
            await container.GetBlobClient($"clips/{i / 1000:D3}/{i:D6}.mp4").UploadAsync(content, overwrite: true, ct);
            Interlocked.Add(ref bytes, content.ToMemory().Length);
        });
        return bytes;
    }

    private static int Count(JsonElement byStage, string stage) => byStage.TryGetProperty(stage, out var n) ? n.GetInt32() : 0;

    private sealed record Traffic(long Requests, long Read, long Written);

    private static async Task<Dictionary<string, Traffic>> TrafficAsync(HttpClient http)
    {
        var body = await http.GetFromJsonAsync<JsonElement>("silo/storage");
        return body.GetProperty("categories").EnumerateArray().ToDictionary(c => c.GetProperty("category").GetString()!,
            c => new Traffic(c.GetProperty("requests").GetInt64(), c.GetProperty("bytesRead").GetInt64(), c.GetProperty("bytesWritten").GetInt64()));
    }

    private static (long Requests, long Read, long Written) Minus(Traffic after, Traffic? before) =>
        (after.Requests - (before?.Requests ?? 0), after.Read - (before?.Read ?? 0), after.Written - (before?.Written ?? 0));

    private static string Minus(Dictionary<string, Traffic> after, Dictionary<string, Traffic> before) =>
        string.Join(", ", after.Keys.Order(StringComparer.Ordinal).Select(k =>
        {
            var (requests, _, written) = Minus(after[k], before.GetValueOrDefault(k));
            return $"{k} {requests} requests / {written:N0} bytes in all";
        }));
}
