using LvMae.Silo;

// The LvMae silo, what each machine of a cluster runs: `dotnet LvMae.Silo.dll` (`dotnet run --project src/Silo`), or
// `lvmae silo`, which takes the same two steps (SiloProcess.RunAsync(args, ...)). The code is src/Silo.Hosting's.

// 1. Configuration, all of it in one place: LvMaeSiloSettings (src/Silo.Hosting/SiloSettings.cs), read from
//    appsettings.json beside this program, LVMAE__Section__Key environment variables and --LvMae:Section:Key=value
//    arguments. Exit code 2 lists every problem with it, unknown keys included.
if (!SiloProcess.TryLoadSettings(args, Console.Error.WriteLine, out var settings)) return SiloProcess.BadConfiguration;

// 2. The silo (LvMaeSiloHost): Orleans with its clustering, TLS, grain storage, reminders, the LvMae grains and the
//    dashboard, and the HTTP API, web console and /metrics on one port; it prints where it listens and runs until
//    Ctrl+C or SIGTERM, when it leaves the cluster. Exit code 1 names each busy port.
return await SiloProcess.RunAsync(settings, Console.Out, Console.Error.WriteLine);
