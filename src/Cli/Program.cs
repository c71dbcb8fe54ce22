using LvMae.Cli;

// lvmae: the LvMae command-line client. Every command lives in its own file under Commands/ and implements
// ICliCommand; they are discovered here, so a new command is one new file.
return await CliCommands.Root().Parse(args).InvokeAsync();
