using LvMae.Client;
using LvMae.Testing;
using System.Net;
using System.Net.Sockets;
using LvMae.Cli;
using LvMae.Silo;

namespace LvMae.Grains.Tests;

/// <summary>
/// `lvmae up --detach`, `lvmae down` and `lvmae silo` as separate processes, tried the way a new user would: in the
/// wrong order, twice, with a port in use, after the background process was killed.
/// </summary>
[Collection(SiloHostCollection.Name)]
public sealed class OperateTests(SiloHostFixture fixture) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lvmae-operate-").FullName;

    public void Dispose()
    {
        // Whatever a failed assertion left running: the recorded `up` and its Azurite.
        if (new UpState(Path.Combine(_folder, ".lvmae")).Read() is { } left)
        {
            if (left.AzuritePid is { } azurite && left.AzuriteStartedAt is { } started) LocalProcess.Kill(azurite, started);
            if (left.MariaDbPid is { } db && left.MariaDbStartedAt is { } dbStarted) LocalProcess.Kill(db, dbStarted);
            LocalProcess.Kill(left.Pid, left.StartedAt);
        }
        try { Directory.Delete(_folder, true); } catch (IOException) { }
    }

    private static Dictionary<string, string> FreePorts() => new()
    {
        ["LVMAE__Clustering__SiloPort"] = SiloHostTests.FreePort().ToString(),
        ["LVMAE__Clustering__GatewayPort"] = SiloHostTests.FreePort().ToString(),
        ["LVMAE__Api__Port"] = SiloHostTests.FreePort().ToString(),
    };

    [Fact]
    public async Task Up_detach_and_down_as_a_new_user_would()
    {
        var environment = FreePorts();
        var gatewayPort = int.Parse(environment["LVMAE__Clustering__GatewayPort"]);
        var blobPort = SiloHostTests.FreePort();
        environment["LVMAE__Storage__ConnectionString"] = LocalAzuriteConnection(blobPort);
        var lvmae = new CliProcess(_folder, environment);
        var state = new UpState(Path.Combine(_folder, ".lvmae"));
        string[] up = ["up", "--detach", "--blob-port", blobPort.ToString()];

        var (code, output) = await lvmae.RunAsync("down");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("nothing is up here", output);

        // The gateway port held by another program: a clear error naming it, and nothing left behind.
        using (var squatter = new TcpListener(IPAddress.Loopback, gatewayPort))
        {
            squatter.Start();
            (code, output) = await lvmae.RunAsync(up);
            Assert.Equal(ExitCodes.Failed, code);
            Assert.Contains($"127.0.0.1:{gatewayPort} (gateway port, LvMae:Clustering:GatewayPort)", output);
            Assert.Null(state.Read());
        }

        (code, output) = await lvmae.RunAsync(up);
        Assert.True(code == ExitCodes.Ok, output);
        var running = state.Running();
        Assert.NotNull(running);
        Assert.Equal(UpRecord.Ready, running!.State);
        Assert.Contains(running.Log!, output);
        Assert.Contains("lvmae down", output);
        await using (var client = await LvMaeClient.ConnectAsync(new ClusteringOptions { GatewayPort = gatewayPort }, TimeSpan.FromSeconds(30)))
            Assert.Single(await client.Cluster.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true));

        (code, output) = await lvmae.RunAsync(up);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains($"lvmae is already up here (pid {running.Pid}", output);
        (code, output) = await lvmae.RunAsync("up", "--blob-port", blobPort.ToString());
        Assert.Equal(ExitCodes.Failed, code); // cannot run a second one in the foreground either
        Assert.Contains("already up", output);
        Assert.Equal(running.Pid, state.Read()!.Pid);

        (code, output) = await lvmae.RunAsync("down");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains($"stopped lvmae up (pid {running.Pid})", output);
        Assert.False(LocalProcess.IsRunning(running.Pid, running.StartedAt));
        Assert.False(LocalProcess.IsRunning(running.AzuritePid!.Value, running.AzuriteStartedAt!.Value));
        Assert.Null(state.Read());
        Assert.True(SiloPorts.Free(IPAddress.Loopback, gatewayPort));
        (code, output) = await lvmae.RunAsync("down");
        Assert.Contains("nothing is up here", output);

        // Killed (SIGKILL): `down` says so, removes the record and stops the Azurite it left running.
        (code, output) = await lvmae.RunAsync(up);
        Assert.True(code == ExitCodes.Ok, output);
        var killed = state.Running()!;
        using (var process = System.Diagnostics.Process.GetProcessById(killed.Pid)) process.Kill(); // not the tree: Azurite stays
        Assert.True(await LocalProcess.WaitForExitAsync(killed.Pid, killed.StartedAt, TimeSpan.FromSeconds(30)));
        Assert.True(LocalProcess.IsRunning(killed.AzuritePid!.Value, killed.AzuriteStartedAt!.Value));
        (code, output) = await lvmae.RunAsync("down");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains($"lvmae up (pid {killed.Pid}) was not running any more", output);
        Assert.Contains($"stopped the Azurite it had left running (pid {killed.AzuritePid})", output);
        Assert.False(LocalProcess.IsRunning(killed.AzuritePid.Value, killed.AzuriteStartedAt.Value));
        Assert.Null(state.Read());
    }

    [Fact]
    public async Task Up_with_azurite_over_mariadb_serves_an_import_and_down_stops_all_three()
    {
        var environment = FreePorts();
        var blobPort = SiloHostTests.FreePort();
        environment["LVMAE__Storage__ConnectionString"] = LocalAzuriteConnection(blobPort);
        var lvmae = new CliProcess(_folder, environment);
        var state = new UpState(Path.Combine(_folder, ".lvmae"));

        var (code, output) = await lvmae.RunAsync("up", "--detach", "--blob-port", blobPort.ToString(), "--azurite-db", "mariadb");
        Assert.True(code == ExitCodes.Ok, output);
        var running = state.Running()!;
        Assert.True(LocalProcess.IsRunning(running.MariaDbPid!.Value, running.MariaDbStartedAt!.Value));
        Assert.True(Directory.Exists(Path.Combine(_folder, ".lvmae", "azurite", "mariadb", "data", "azurite")));

        var npy = Path.Combine(_folder, "one.npy");
        LvMae.Formats.NpyArray.FromFloats(Enumerable.Range(0, 12 * 8).Select(i => i / 96f).ToArray(), 12, 8).Write(npy);
        (code, output) = await lvmae.RunAsync("import-embeddings", npy);
        Assert.True(code == ExitCodes.Ok, output);
        Assert.Contains("Embedded", output);

        (code, output) = await lvmae.RunAsync("down");
        Assert.True(code == ExitCodes.Ok, output);
        Assert.False(LocalProcess.IsRunning(running.Pid, running.StartedAt));
        Assert.False(LocalProcess.IsRunning(running.AzuritePid!.Value, running.AzuriteStartedAt!.Value));
        Assert.True(await LocalProcess.WaitForExitAsync(running.MariaDbPid.Value, running.MariaDbStartedAt.Value, TimeSpan.FromSeconds(30)));
    }

    private static string LocalAzuriteConnection(int port) =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";

    [Fact]
    public async Task Silo_runs_in_the_foreground_says_where_it_listens_and_stops_on_sigterm()
    {
        var environment = FreePorts();
        environment["LVMAE__Storage__ConnectionString"] = fixture.Azurite.ConnectionString;
        environment["LVMAE__Storage__Container"] = "silo-process";
        var gatewayPort = int.Parse(environment["LVMAE__Clustering__GatewayPort"]);
        var apiPort = SiloHostTests.FreePort();
        await using var silo = new CliProcess(_folder, environment).Start("silo", $"--LvMae:Api:Port={apiPort}");
        await silo.WaitForLineAsync(l => l.StartsWith("Ctrl+C or SIGTERM stops it", StringComparison.Ordinal), TimeSpan.FromMinutes(2));
        var lines = silo.Output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Contains($"  gateway      127.0.0.1:{gatewayPort}", lines);
        Assert.Contains(lines, l => l.StartsWith($"  HTTP API     http://127.0.0.1:{apiPort}/", StringComparison.Ordinal));
        Assert.Contains("  security     no TLS (loopback only)", lines);
        Assert.DoesNotContain("AccountKey", silo.Output); // the storage key stays out of the output
        await using (var client = await LvMaeClient.ConnectAsync(new ClusteringOptions { GatewayPort = gatewayPort }, TimeSpan.FromSeconds(30)))
            Assert.Single(await client.Cluster.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true));

        LocalProcess.Terminate(silo.Id);
        Assert.Equal(ExitCodes.Ok, await silo.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        Assert.Contains("lvmae silo stopped", silo.Output);
    }

    [Fact]
    public async Task Silo_with_bad_configuration_lists_every_problem_and_exits_2()
    {
        var (code, output) = await InProcessCli.RunAsync("silo", "--LvMae:Api:Port=eighty", "--LvMae:Clustering:SiloPort=0", "--LvMae:Clustering:Mod=Redis",
            "--LvMae:Tls:CertificatePath=/nowhere/node.pfx", "--LvMae:Clustering:Mode=Redis", "--LvMae:Clustering:RedisConnectionString=127.0.0.1:1",
            "--LvMae:Clustering:AdvertisedIPAddress=10.1.2.3");
        output = CliProcess.Fold(output);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("'eighty' at 'LvMae:Api:Port'", output);
        Assert.Contains("LvMae:Clustering:SiloPort must be 1..65535 (is 0)", output);
        Assert.Contains("unknown setting LvMae:Clustering:Mod (", output);
        Assert.Contains("LvMae:Tls:CertificatePath '/nowhere/node.pfx': file not found", output);
        Assert.Contains("LvMae:Tls:CaCertificatePath is required", output);

        (code, output) = await InProcessCli.RunAsync("silo", "--LvMae:Clustering:Mode=Redis", "--LvMae:Clustering:RedisConnectionString=127.0.0.1:1",
            "--LvMae:Clustering:AdvertisedIPAddress=10.1.2.3");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("listens beyond loopback", CliProcess.Fold(output)); // no TLS off loopback

        (code, output) = await InProcessCli.RunAsync("silo", "--port", "5");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--LvMae:Section:Key=value", CliProcess.Fold(output));
    }
}
