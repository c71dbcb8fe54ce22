using System.CommandLine;
using LvMae.Cli;
using LvMae.Cli.Hosted;

// lvmae-host: runs the `lvmae` commands that start servers or compute in this process (a silo, Azurite, ffmpeg,
// TorchSharp); `lvmae` starts it with the arguments it was given. The commands are src/Host.Commands' (one file each
// under Commands/) and, for the rest, src/Cli.Commands'.
return await HostCommands.Root().Parse(args).InvokeAsync(CliCommands.Invocation);
