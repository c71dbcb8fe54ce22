using System.CommandLine;
using System.Text.Json;
using LvMae.Cli;
using LvMae.Cli.Hosted;
using LvMae.Contracts;
using LvMae.Runs;
using LvMae.Testing;

namespace LvMae.Grains.Tests;

/// <summary>
/// `lvmae` links no TorchSharp, ONNX Runtime or ffmpeg: the commands that need them run in lvmae-host, which lvmae starts
/// with the command line it was given. Checked on the built programs beside the tests (the CLI's own lvmae.deps.json) and
/// by running them as processes.
/// </summary>
public sealed class CliHostTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lvmae-cli-host-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>What lvmae must not link: the model and media stacks and the projects that bring them.</summary>
    private static readonly string[] Heavy =
        ["TorchSharp", "libtorch", "Microsoft.ML", "FFMpegCore", "SkiaSharp", "ScottPlot", "LvMae.Model", "LvMae.Media", "LvMae.Pipeline", "LvMae.Grains", "LvMae.Silo", "LvMae.Demo", "LvMae.Corpus"];

    /// <summary>The libraries a deps.json lists (package and project names, without versions).</summary>
    private static IReadOnlyList<string> Libraries(string depsJson)
    {
        using var deps = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, depsJson)));
        return deps.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name.Split('/')[0]).ToList();
    }

    private static IReadOnlyList<string> HeavyIn(IEnumerable<string> libraries) =>
        libraries.Where(l => Heavy.Any(h => l.StartsWith(h, StringComparison.OrdinalIgnoreCase))).ToList();

    [Fact]
    public void Lvmae_links_no_torchsharp_onnx_runtime_ffmpeg_or_the_projects_that_use_them()
    {
        var cli = Libraries("lvmae.deps.json");
        Assert.Contains("LvMae.Client", cli);
        Assert.Empty(HeavyIn(cli));
        // The same check finds them where they are linked: lvmae-host runs the model.
        var host = HeavyIn(Libraries("lvmae-host.deps.json"));
        Assert.Contains("TorchSharp", host);
        Assert.Contains("Microsoft.ML.OnnxRuntime", host);
        Assert.Contains("LvMae.Model", host);
    }

    /// <summary>The commands that only talk to the cluster or to storage: `lvmae` runs them itself.</summary>
    private static readonly string[] ClusterCommands =
        ["ingest", "import-embeddings", "status", "retry", "index", "verify", "train", "runs", "probe", "export", "export-embeddings", "retrieve"];

    [Fact]
    public void Lvmae_runs_every_command_that_only_talks_to_the_cluster_itself_and_hosts_only_the_local_ones()
    {
        var cli = CliCommands.Root().Subcommands.ToDictionary(c => c.Name);
        foreach (var name in ClusterCommands) Assert.IsNotType<ForwardedCommand>(cli[name]);
        Assert.Equal(["ablate", "demo", "silo", "synth-embeddings", "up"], HostedCommands.All.Select(h => h.Name).Order());
        // lvmae's own assembly names none of the heavy projects either (not only its deps.json).
        var referenced = typeof(CliCommands).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Empty(HeavyIn(referenced));
        Assert.Contains("LvMae.Runs", referenced);
    }

    [Fact]
    public void No_project_under_src_references_an_executable()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "LvMae.sln"))) root = root.Parent;
        Assert.NotNull(root);
        static System.Xml.Linq.XDocument Load(string path) => System.Xml.Linq.XDocument.Load(path);
        static bool IsExe(string project) => Load(project).Descendants("OutputType").Any(e => e.Value.Trim().Equals("Exe", StringComparison.OrdinalIgnoreCase));
        var offending = new List<string>();
        foreach (var project in Directory.GetFiles(Path.Combine(root.FullName, "src"), "*.csproj", SearchOption.AllDirectories))
            foreach (var reference in Load(project).Descendants("ProjectReference").Select(r => r.Attribute("Include")!.Value.Replace('\\', '/')))
            {
                var target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(project)!, reference));
                if (IsExe(target)) offending.Add($"{Path.GetFileName(project)} -> {Path.GetFileName(target)}");
            }
        Assert.Empty(offending);
    }

    [Fact]
    public void The_light_copies_of_model_names_and_defaults_agree_with_the_model()
    {
        Assert.Equal(LvMae.Model.Masking.MaskingStrategies.Names, TrainingRunConfig.MaskingNames);
        Assert.Equal(LvMae.Model.Training.TrainerOptions.DefaultPeakLr, TrainingRunConfig.DefaultPeakLr);
        Assert.Equal(LvMae.Model.Training.TrainerOptions.DefaultWarmupFraction, TrainingRunConfig.DefaultWarmupFraction);
        Assert.Equal(LvMae.Model.Probing.ProbeSuite.Baseline, ProbeVerdict.BaselineProbe);
        Assert.Equal(LvMae.Model.Probing.ProbeSuite.AttentivePositions, ProbeVerdict.AttentivePositionsProbe);
    }

    [Fact]
    public async Task Probe_of_local_features_goes_to_lvmae_host_and_probe_of_a_run_does_not()
    {
        var missing = Path.Combine(_folder, "nowhere", HostProcess.AssemblyFile);
        var cli = new CliProcess(_folder, new Dictionary<string, string> { [HostProcess.PathVariable] = missing });
        var (code, output) = await cli.RunAsync("probe", "--features", _folder, "--labels", Path.Combine(_folder, "labels.csv"), "--task", "activity");
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("`lvmae probe` runs in lvmae-host", output);
        (code, output) = await cli.RunAsync("probe", "--task", "activity");   // a run's probe: lvmae's own (here a usage error)
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("give --run NAME", output);
        Assert.DoesNotContain("lvmae-host", output);
    }

    [Fact]
    public void Every_hosted_command_is_listed_by_lvmae_and_implemented_by_lvmae_host_with_the_same_description()
    {
        var cli = CliCommands.Root().Subcommands.ToDictionary(c => c.Name);
        var host = HostCommands.Root().Subcommands.ToDictionary(c => c.Name);
        Assert.Equal(cli.Keys.Order(), host.Keys.Order());
        foreach (var hosted in HostedCommands.All)
        {
            Assert.IsType<ForwardedCommand>(cli[hosted.Name]);
            Assert.IsNotType<ForwardedCommand>(host[hosted.Name]);
            Assert.Equal(hosted.Description, cli[hosted.Name].Description);
            Assert.Equal(hosted.Description, host[hosted.Name].Description);
        }
        // Only the hosted commands are forwarded; the others run in lvmae itself.
        Assert.Equal(HostedCommands.All.Select(h => h.Name).Order(), cli.Values.OfType<ForwardedCommand>().Select(c => c.Name).Order());
    }

    [Fact]
    public async Task A_hosted_command_runs_in_lvmae_host_with_its_help_output_and_exit_code()
    {
        var cli = new CliProcess(_folder, new Dictionary<string, string>());
        var (code, help) = await cli.RunAsync("demo", "--help");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("Usage: lvmae demo [options]", help);
        Assert.Contains("--quick Smoke run in a few minutes", help);

        var output = Path.Combine(_folder, "ob");
        (code, var written) = await cli.RunAsync("synth-embeddings", "--out", output, "--videos", "12", "--classes", "3", "--steps", "5", "--dim", "8");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("wrote 12 videos", written);
        Assert.Equal(12, Directory.GetFiles(output, "*.npy").Length);
        (code, var noiseRefused) = await cli.RunAsync("synth-embeddings", "--out", output, "--videos", "12", "--classes", "3", "--steps", "5", "--noise", "2");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--noise applies to the recipe kinds only", noiseRefused);

        (code, var refused) = await cli.RunAsync("silo", "--port", "5");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("unknown option(s) --port", refused);
    }

    [Fact]
    public async Task A_hosted_command_without_lvmae_host_is_a_clear_error_naming_where_it_looked()
    {
        var missing = Path.Combine(_folder, "nowhere", HostProcess.AssemblyFile);
        var (code, output) = await new CliProcess(_folder, new Dictionary<string, string> { [HostProcess.PathVariable] = missing }).RunAsync("demo", "--quick");
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains($"`lvmae demo` runs in lvmae-host", output);
        Assert.Contains(missing, output);
        Assert.False(Directory.Exists(Path.Combine(_folder, ".lvmae")));   // nothing was started

        // Commands that need no host do not look for it.
        (code, output) = await new CliProcess(_folder, new Dictionary<string, string> { [HostProcess.PathVariable] = missing }).RunAsync("ingest", Path.Combine(_folder, "none.mp4"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("none.mp4", output);
        Assert.DoesNotContain("lvmae-host", output);
    }
}
