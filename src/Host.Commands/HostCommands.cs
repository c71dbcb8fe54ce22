using System.CommandLine;
using LvMae.Cli.Commands;
using LvMae.Grains.Training;
using LvMae.Silo;

namespace LvMae.Cli.Hosted;

/// <summary>lvmae-host's commands: `lvmae`'s, with the hosted ones implemented by the classes of this assembly.</summary>
public static class HostCommands
{
    public static RootCommand Root()
    {
        // `probe --features` trains probes in process: lvmae hands it to lvmae-host, where this is set.
        ProbeCommand.FeatureProbe = (dir, csv, task, kind, seeds, epochs) =>
            FeatureProbe.Run(dir, csv, task, kind, new LvMae.Model.Probing.ProbeSettings { Seeds = seeds, Epochs = epochs, Device = "auto" });
        return CliCommands.Root(CliCommands.Discover(typeof(HostCommands).Assembly));
    }

    /// <summary>A silo's settings (what `up` and `demo` host), from the same sources as <see cref="CommandLine.Settings"/>.</summary>
    public static LvMaeSiloSettings SiloSettings() => LvMaeSiloSettings.Load(LvMaeSiloSettings.BuildConfiguration());
}
