using System.CommandLine;
using LvMae.Cli;

// lvmae: the LvMae command-line client. Every command lives in its own file under Commands/ and implements
// ICliCommand; they are discovered here, so a new command is one new file.
// Ctrl+C / SIGTERM cancel the command; a silo (`up`, `silo`) gets 30 s to leave its cluster before the process ends.
return await CliCommands.Root().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });
