using LvMae.Silo;

// The LvMae silo: `dotnet run --project src/Silo` (configuration: appsettings.json, LVMAE__... env vars, --LvMae:... args).
try
{
    var settings = LvMaeSiloSettings.Load(LvMaeSiloSettings.BuildConfiguration(args)).Validate();
    await using var host = await LvMaeSiloHost.StartAsync(settings);
    Console.WriteLine($"lvmae silo up: cluster {settings.Clustering.ClusterId} ({settings.Clustering.Mode}), gateway port {settings.Clustering.GatewayPort}" +
                      (host.ApiAddress is null ? "" : $", API {host.ApiAddress}, dashboard {new Uri(host.ApiAddress, settings.Api.DashboardPath)}"));
    await host.WaitForShutdownAsync();
    return 0;
}
catch (LvMaeConfigurationException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
