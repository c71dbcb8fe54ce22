using LvMae.Cli;

// lvmae: the LvMae command-line client. Every command lives in its own file under Commands/ and implements ICliCommand;
// they are discovered here, so a new command is one new file. The commands that need the model, ffmpeg or a silo run in
// lvmae-host (src/Host; see HostedCommands), so that this program links none of them.
return await CliCommands.RunAsync(args);
