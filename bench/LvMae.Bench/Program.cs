using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using LvMae.Bench;

// ./bench.sh runs this (dotnet run -c Release --project bench/LvMae.Bench -- ARGS); Usage below says what ARGS may be.
if (args.Length > 0 && args[0] == TorchGcBench.ChildFlag) return TorchGcBench.RunChild(args);   // one run of the torchgc suite's crash test
const string Usage = "usage: ./bench.sh [suite ...] [--quick] [--no-write] [--videos N] [--in-memory-storage | --azurite-db files|mariadb]\n" +
                     "                  [--storage-kill-trials N [--corpus quick|chaos|training]]\n" +
                     "       ./bench.sh learning [options]   (bench/learning.sh)\n" +
                     "Runs the named suites (all when none is named), prints their figures and rewrites docs/BENCHMARKS.md unless --no-write.";
if (args.Any(a => a is "--help" or "-h")) { Console.WriteLine(Usage + "\nsuites: " + string.Join(", ", BenchSuites.All.Select(s => s.Name))); return 0; }
// an option nobody reads (a typo, or --help spelt otherwise) must not start every suite and rewrite the docs
string[] flags = ["--quick", "--no-write", "--in-memory-storage"], valuedOptions = ["--videos", "--azurite-db", "--storage-kill-trials", "--corpus"];
var unknown = args.Where((a, i) => a.StartsWith('-') && !flags.Contains(a) && !valuedOptions.Contains(a) && !(i > 0 && valuedOptions.Contains(args[i - 1]))).ToList();
if (unknown.Count > 0) { Console.Error.WriteLine($"unknown option(s) {string.Join(", ", unknown)}\n{Usage}"); return 2; }
var quick = args.Contains("--quick");
var write = !args.Contains("--no-write");
int? videos = null;
var videosAt = Array.IndexOf(args, "--videos");
if (videosAt >= 0)
{
    if (videosAt + 1 >= args.Length || !int.TryParse(args[videosAt + 1], out var n) || n < 10) { Console.Error.WriteLine("--videos takes a whole number >= 10"); return 2; }
    videos = n;
}
var dbAt = Array.IndexOf(args, "--azurite-db");
if (dbAt >= 0 && (dbAt + 1 >= args.Length || args[dbAt + 1] is not ("mariadb" or "files"))) { Console.Error.WriteLine("--azurite-db takes files or mariadb"); return 2; }
var mariaDb = dbAt >= 0 && args[dbAt + 1] == "mariadb";
if (mariaDb && args.Contains("--in-memory-storage")) { Console.Error.WriteLine("--azurite-db mariadb and --in-memory-storage exclude each other"); return 2; }
// chaos --storage-kill-trials N [--corpus quick|chaos|training]: only issue 28's storage-SIGKILL trials (StorageKillTrials; training: runs through `lvmae train`).
int? storageKills = null;
var killsAt = Array.IndexOf(args, "--storage-kill-trials");
if (killsAt >= 0)
{
    if (killsAt + 1 >= args.Length || !int.TryParse(args[killsAt + 1], out var k) || k < 1) { Console.Error.WriteLine("--storage-kill-trials takes a whole number >= 1"); return 2; }
    storageKills = k;
}
var corpusAt = Array.IndexOf(args, "--corpus");
if (corpusAt >= 0 && (corpusAt + 1 >= args.Length || args[corpusAt + 1] is not ("quick" or "chaos" or "training"))) { Console.Error.WriteLine("--corpus takes quick, chaos or training"); return 2; }
var valued = new[] { videosAt, dbAt, killsAt, corpusAt }.Where(i => i >= 0).Select(i => i + 1).ToHashSet();
var wanted = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && !valued.Contains(i)).ToHashSet(StringComparer.OrdinalIgnoreCase);
var suites = BenchSuites.All.Where(s => wanted.Count == 0 || wanted.Contains(s.Name)).ToList();
if (suites.Count == 0)
{
    Console.Error.WriteLine($"unknown suite(s) {string.Join(", ", wanted)}; known: {string.Join(", ", BenchSuites.All.Select(s => s.Name))}");
    return 2;
}

var context = new BenchContext(quick)
{
    Videos = videos, InMemoryStorage = args.Contains("--in-memory-storage"), MariaDbStorage = mariaDb,
    StorageKillTrials = storageKills, Corpus = corpusAt >= 0 ? args[corpusAt + 1] : null,
};
var sections = new List<(string Name, string Markdown)>();
foreach (var suite in suites)
{
    Console.WriteLine($"== {suite.Name} ==");
    var watch = Stopwatch.StartNew();
    var markdown = await suite.RunAsync(context);
    Console.WriteLine(markdown);
    Console.WriteLine($"({suite.Name}: {watch.Elapsed.TotalSeconds:F0} s)");
    sections.Add((suite.Name, markdown));
}

if (write) BenchmarkReport.Write(sections, string.Join(' ', args));
return 0;

namespace LvMae.Bench
{
    /// <summary>One benchmark suite: measures its figures and a baseline in the same run, returns a markdown section.</summary>
    public interface IBenchSuite
    {
        string Name { get; }
        Task<string> RunAsync(BenchContext context);
    }

    public sealed record BenchContext(bool Quick)
    {
        /// <summary>--videos N: corpus size for the suites that take one (scale).</summary>
        public int? Videos { get; init; }

        /// <summary>--in-memory-storage: Azurite without its metadata file (scale), so the figures are the silo's, not the emulator's.</summary>
        public bool InMemoryStorage { get; init; }

        /// <summary>--azurite-db mariadb: Azurite with its blob metadata in a private MariaDB server (scale): what holds 100k+ videos.</summary>
        public bool MariaDbStorage { get; init; }

        /// <summary>--storage-kill-trials N (chaos): run only N storage-SIGKILL trials (<see cref="StorageKillTrials"/>).</summary>
        public int? StorageKillTrials { get; init; }

        /// <summary>--corpus quick|chaos|training: the storage-kill trials' corpus (the quick demo corpus, 24 videos; the 200-video chaos corpus; training runs on imported embeddings).</summary>
        public string? Corpus { get; init; }

        /// <summary>The emulator the storage options ask for (not started).</summary>
        public LvMae.Testing.AzuriteFixture NewAzurite() => new() { InMemory = InMemoryStorage, MariaDb = MariaDbStorage };

        /// <summary>How the emulator keeps its metadata, for a table's caption ("" on files, its default).</summary>
        public string StorageNote => MariaDbStorage ? " (blob metadata in MariaDB)" : InMemoryStorage ? " (in-memory)" : "";

        /// <summary>Median of <paramref name="runs"/> timings of <paramref name="action"/> in seconds (after one warm-up).</summary>
        public static double MedianSeconds(int runs, Action action)
        {
            action();
            var times = new double[runs];
            for (var i = 0; i < runs; i++)
            {
                var watch = Stopwatch.StartNew();
                action();
                times[i] = watch.Elapsed.TotalSeconds;
            }
            Array.Sort(times);
            return times[runs / 2];
        }
    }

    public static partial class BenchSuites
    {
        /// <summary>Every suite; each issue's benchmark adds itself here.</summary>
        public static IReadOnlyList<IBenchSuite> All { get; } = Discover();

        private static List<IBenchSuite> Discover() =>
            typeof(BenchSuites).Assembly.GetTypes()
                .Where(t => typeof(IBenchSuite).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
                .Select(t => (IBenchSuite)Activator.CreateInstance(t)!)
                .OrderBy(s => s.Name, StringComparer.Ordinal)
                .ToList();
    }

    /// <summary>Merges suite sections into docs/BENCHMARKS.md, keeping sections of suites not run this time.</summary>
    public static class BenchmarkReport
    {
        public static void Write(IReadOnlyList<(string Name, string Markdown)> sections, string arguments)
        {
            var root = FindRoot();
            var path = Path.Combine(root, "docs", "BENCHMARKS.md");
            var existing = File.Exists(path) ? ParseSections(File.ReadAllText(path)) : new Dictionary<string, string>();
            var machine = $"{RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores, {RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}";
            // The options as given (--quick, --videos N, ...), without the suite names: the command that reproduces a section.
            var tokens = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var options = string.Concat(tokens.Where((t, i) => t.StartsWith("--", StringComparison.Ordinal) || (i > 0 && tokens[i - 1].StartsWith("--", StringComparison.Ordinal) && !t.StartsWith("--", StringComparison.Ordinal) && !sections.Any(s => s.Name == t)))
                .Select(t => " " + t));
            foreach (var (name, markdown) in sections)
                existing[name] = $"_Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {machine}; command: `dotnet run -c Release --project bench/LvMae.Bench -- {name}{options}`_\n\n{markdown.Trim()}\n";
            var text = new StringBuilder("# LvMae benchmarks\n\nWritten by `bench/LvMae.Bench` (`./bench.sh`); each section is replaced when its suite runs. Ratios compare against a baseline measured in the same run.\n");
            foreach (var (name, body) in existing.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                text.Append($"\n<!-- suite:{name} -->\n## {name}\n\n{body}");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text.ToString());
            Console.WriteLine($"wrote {path}");
        }

        private static Dictionary<string, string> ParseSections(string text)
        {
            var result = new Dictionary<string, string>();
            var parts = text.Split("<!-- suite:");
            foreach (var part in parts.Skip(1))
            {
                var end = part.IndexOf(" -->", StringComparison.Ordinal);
                var name = part[..end];
                var body = part[(end + 4)..];
                var heading = body.IndexOf('\n', body.IndexOf("## ", StringComparison.Ordinal));
                result[name] = body[(heading + 1)..].Trim('\n') + "\n";   // one blank line between sections, however often rewritten
            }
            return result;
        }

        public static string FindRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "LvMae.sln"))) return dir.FullName;
            return Directory.GetCurrentDirectory();
        }
    }
}
