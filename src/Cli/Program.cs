using LvMae.Cli;

// lvmae: the LvMae command-line client. Every command lives in its own file under src/Cli.Commands/Commands/ and
// implements ICliCommand; they are discovered there, so a new command is one new file. The commands that start servers
// or compute locally (a silo, Azurite, ffmpeg, TorchSharp) run in lvmae-host (src/Host; see HostedCommands), so that
// this program links none of it.
return await CliCommands.RunAsync(args);
