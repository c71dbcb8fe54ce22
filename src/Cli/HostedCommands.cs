using System.CommandLine;

namespace LvMae.Cli;

/// <summary>A command that runs in lvmae-host: its name, the description `lvmae --help` lists, and the name of its arguments if it takes any.</summary>
public sealed record HostedCommand(string Name, string Description, string? Arguments = null);

/// <summary>
/// The commands that need the heavy parts (TorchSharp, ONNX Runtime and ffmpeg encoders, a silo, the training code): they
/// are implemented in src/Host (lvmae-host), so that `lvmae` itself links none of it. `lvmae` lists them with these
/// descriptions and hands each invocation, arguments as typed, to lvmae-host (<see cref="HostProcess"/>); lvmae-host's
/// commands take their name and description from here, so the two never disagree.
/// </summary>
public static class HostedCommands
{
    public static readonly HostedCommand Ablate = new("ablate", "Train and probe masking x target x decoder-budget configurations on the same embeddings; print the table");
    public static readonly HostedCommand Demo = new("demo", "The main job: synthetic long-video corpus -> Azurite + local silo ingestion -> LV-MAE pre-training -> probes vs raw embeddings -> report");
    public static readonly HostedCommand Export = new("export", "Export long-video embeddings (or the model weights) from a run's latest checkpoint");
    public static readonly HostedCommand ExportEmbeddings = new("export-embeddings", "Write every embedded video's segment embeddings (.npy [N, d] float32) and a labels CSV to a folder");
    public static readonly HostedCommand Probe = new("probe", "Probe a run's latest checkpoint on one label column, next to the raw-embedding baseline");
    public static readonly HostedCommand Retrieve = new("retrieve", "Nearest captions of masked segments: original vs reconstruction");
    public static readonly HostedCommand Runs = new("runs", "List training runs; show, stop, resume or delete one");
    public static readonly HostedCommand Silo = new("silo",
        "Run one silo in the foreground (a machine of a cluster), configured by appsettings.json, LVMAE__Section__Key environment " +
        "variables and --LvMae:Section:Key=value arguments; prints where it listens; Ctrl+C or SIGTERM stops it. Exit code 2: bad configuration, every problem listed",
        Arguments: "settings");
    public static readonly HostedCommand SynthEmbeddings = new("synth-embeddings", "Write an order-only benchmark of precomputed segment embeddings (+ labels.csv with a split column)");
    public static readonly HostedCommand Train = new("train", "Start a training run (LV-MAE on the embedded corpus) or reattach to one");
    public static readonly HostedCommand Up = new("up", "Start Azurite and a local silo (HTTP API + dashboard on 127.0.0.1); Ctrl+C stops both, or --detach and `lvmae down`");

    public static readonly IReadOnlyList<HostedCommand> All = [Ablate, Demo, Export, ExportEmbeddings, Probe, Retrieve, Runs, Silo, SynthEmbeddings, Train, Up];
}

/// <summary>
/// How `lvmae` lists a hosted command: its name and description, any arguments. It is never invoked in this process:
/// <see cref="CliCommands.RunAsync"/> hands the command line to lvmae-host, which parses it (`lvmae demo --help` included).
/// </summary>
public sealed class ForwardedCommand : Command
{
    public ForwardedCommand(HostedCommand hosted) : base(hosted.Name, hosted.Description)
    {
        Add(new Argument<string[]>(hosted.Arguments ?? "arguments") { Arity = ArgumentArity.ZeroOrMore, Hidden = hosted.Arguments is null });
        TreatUnmatchedTokensAsErrors = false;
    }
}
