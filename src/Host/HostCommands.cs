using System.CommandLine;
using LvMae.Silo;

namespace LvMae.Cli.Hosted;

/// <summary>lvmae-host's commands: `lvmae`'s, with the hosted ones implemented by the classes of this assembly.</summary>
public static class HostCommands
{
    public static RootCommand Root() => CliCommands.Root(CliCommands.Discover(typeof(HostCommands).Assembly));

    /// <summary>A silo's settings (what `up` and `demo` host), from the same sources as <see cref="CommandLine.Settings"/>.</summary>
    public static LvMaeSiloSettings SiloSettings() => LvMaeSiloSettings.Load(LvMaeSiloSettings.BuildConfiguration());
}
