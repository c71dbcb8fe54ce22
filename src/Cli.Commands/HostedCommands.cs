using System.CommandLine;

namespace LvMae.Cli;

/// <summary>A command that runs in lvmae-host: its name, the description `lvmae --help` lists, and the name of its arguments if it takes any.</summary>
public sealed record HostedCommand(string Name, string Description, string? Arguments = null);

/// <summary>
/// The commands that start servers or compute in the calling process (a silo, Azurite, ffmpeg, TorchSharp): they are
/// implemented in src/Host.Commands (lvmae-host), so that `lvmae` itself links none of it. Commands that only talk to
/// the cluster run in `lvmae`, whatever the cluster does for them (training, probes, exports, retrieval run on silos). `lvmae` lists them with these
/// descriptions and hands each invocation, arguments as typed, to lvmae-host (<see cref="HostProcess"/>); lvmae-host's
/// commands take their name and description from here, so the two never disagree.
/// </summary>
public static class HostedCommands
{
    public static readonly HostedCommand Ablate = new("ablate", "Train and probe masking x target x decoder-budget configurations on the same embeddings; print the table");
    public static readonly HostedCommand Demo = new("demo", "The main job: synthetic long-video corpus -> Azurite + local silo ingestion -> LV-MAE pre-training -> probes vs raw embeddings -> report");
    public static readonly HostedCommand Silo = new("silo",
        "Run one silo in the foreground (a machine of a cluster), configured by appsettings.json, LVMAE__Section__Key environment " +
        "variables and --LvMae:Section:Key=value arguments; prints where it listens; Ctrl+C or SIGTERM stops it. Exit code 2: bad configuration, every problem listed",
        Arguments: "settings");
    public static readonly HostedCommand SynthEmbeddings = new("synth-embeddings", "Write an order-only benchmark of precomputed segment embeddings (+ labels.csv with a split column)");
    public static readonly HostedCommand Up = new("up", "Start Azurite and a local silo (HTTP API + dashboard on 127.0.0.1); Ctrl+C stops both, or --detach and `lvmae down`");

    public static readonly IReadOnlyList<HostedCommand> All = [Ablate, Demo, Silo, SynthEmbeddings, Up];

    /// <summary>
    /// Whether a command line of a command `lvmae` implements still goes to lvmae-host: `probe --features` trains probes
    /// on local files in the calling process (TorchSharp), while `probe --run` asks the cluster. `lvmae` hands such a
    /// command line to lvmae-host as typed, as it does the hosted commands'.
    /// </summary>
    public static bool RunsInHost(ParseResult parse) =>
        parse.CommandResult.Command.Name == "probe" && parse.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>()
            .Any(o => o.Option.Name == Commands.ProbeCommand.FeaturesOption && !o.Implicit);
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
