using System.CommandLine;
using LvMae.Cli;

// lvmae: the LvMae command-line client. Every command lives in its own file under Commands/ and implements
// ICliCommand; they are discovered here, so a new command is one new file.
var root = new RootCommand("lvmae: long-video representations at corpus scale (LV-MAE) on an Orleans cluster");
foreach (var command in CliCommands.Discover()) root.Add(command.Build());
return await root.Parse(args).InvokeAsync();
