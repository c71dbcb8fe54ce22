using System.CommandLine;
using LvMae.Cli;
using LvMae.Cli.Hosted;

// lvmae-host: runs the `lvmae` commands that need the model, ffmpeg or a silo (`lvmae` starts it with the arguments it
// was given); each lives in its own file under Commands/.
return await HostCommands.Root().Parse(args).InvokeAsync(CliCommands.Invocation);
