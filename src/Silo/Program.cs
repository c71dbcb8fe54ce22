using LvMae.Silo;

// The LvMae silo: `dotnet run --project src/Silo` or `lvmae silo` (configuration: appsettings.json, LVMAE__... env vars,
// --LvMae:...=value args). Exit code 2 lists every configuration problem.
return await SiloProcess.RunAsync(args, Console.Out, Console.Error.WriteLine);
