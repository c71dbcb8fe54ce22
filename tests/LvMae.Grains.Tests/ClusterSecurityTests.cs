using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Silo;

namespace LvMae.Grains.Tests;

/// <summary>
/// A cluster secured with mutual TLS (real silos on 127.0.0.1, certificates from `lvmae certs create`'s code): who can
/// connect, what the silo port speaks, how bad certificate configuration is reported; and the API key off loopback.
/// </summary>
[Collection(SiloHostCollection.Name)]
public sealed class ClusterSecurityTests(SiloHostFixture fixture) : IDisposable
{
    private readonly string _certificates = Directory.CreateTempSubdirectory("lvmae-certs-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_certificates, true); } catch (IOException) { }
    }

    private ClusterTlsOptions Issue(string ca, string node, string? password = null)
    {
        var files = LabCertificates.Create(Path.Combine(_certificates, ca), node, password);
        return new ClusterTlsOptions { CertificatePath = files.NodeCertificate, CaCertificatePath = files.CaCertificate, CertificatePassword = password };
    }

    private LvMaeSiloSettings SecuredSilo(string cluster, ClusterTlsOptions tls, int? primarySiloPort = null) => new()
    {
        Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = cluster },
        Clustering = new ClusteringOptions
        {
            SiloPort = SiloHostTests.FreePort(), GatewayPort = SiloHostTests.FreePort(), ClusterId = cluster, ServiceId = cluster, PrimarySiloPort = primarySiloPort,
        },
        Processing = new ProcessingOptions { MaxConcurrentJobs = 1 },
        Api = new ApiOptions { Enabled = false },
        Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning, OrleansLevel = Microsoft.Extensions.Logging.LogLevel.Error },
        Tls = tls,
    };

    [Fact]
    public async Task Secured_cluster_admits_only_clients_and_silos_with_a_certificate_of_its_CA()
    {
        var silos = Issue("cluster-ca", "node");
        var client = Issue("cluster-ca", "client");
        var stranger = Issue("other-ca", "node");
        var first = SecuredSilo("tls-cluster", silos);
        var second = SecuredSilo("tls-cluster", silos, primarySiloPort: first.Clustering.SiloPort);
        await using var a = await LvMaeSiloHost.StartAsync(first);
        await using var b = await LvMaeSiloHost.StartAsync(second);

        // The right certificate: connects through silo A's gateway; silo A reaches silo B over the TLS silo port.
        await using (var admitted = await LvMaeClient.ConnectAsync(first.Clustering, client, TimeSpan.FromSeconds(30)))
        {
            var management = admitted.Cluster.GetGrain<IManagementGrain>(0);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await management.GetHosts(onlyActive: true)).Count < 2 && DateTime.UtcNow < deadline) await Task.Delay(250);
            var hosts = await management.GetHosts(onlyActive: true);
            Assert.Equal(2, hosts.Count);
            var statistics = await management.GetRuntimeStatistics(hosts.Keys.ToArray()); // one call into each silo
            Assert.Equal(2, statistics.Length);
            Assert.Equal(0, (await admitted.Grains.SummaryAsync()).Total);
        }

        // No certificate, and a certificate from another CA: refused at both silos' gateways.
        foreach (var gateway in new[] { first.Clustering, second.Clustering })
        {
            var none = await Assert.ThrowsAsync<SiloUnreachableException>(() => LvMaeClient.ConnectAsync(gateway, new ClusterTlsOptions(), TimeSpan.FromSeconds(5)));
            Assert.Contains("no LvMae silo reachable", none.Message);
            var other = await Assert.ThrowsAsync<SiloUnreachableException>(() => LvMaeClient.ConnectAsync(gateway, stranger, TimeSpan.FromSeconds(5)));
            Assert.Contains("check that the cluster's CA", other.Message);
        }

        // The silo-to-silo port speaks TLS with a certificate of the cluster CA and ends the session of a peer without one.
        using var ca = X509CertificateLoader.LoadCertificateFromFile(silos.CaCertificatePath!);
        using (var credentials = ClusterCredentials.Load(client))
        {
            using var presented = await ServerCertificateAsync(second.Clustering.SiloPort, credentials.Certificate);
            Assert.Equal(ca.Subject, presented.Issuer);
            Assert.True(credentials.Trusts(presented));
        }
        using (var strangerCredentials = ClusterCredentials.Load(stranger))
            Assert.True(await SessionEndedAsync(second.Clustering.SiloPort, strangerCredentials.Certificate));
        Assert.True(await SessionEndedAsync(second.Clustering.SiloPort, clientCertificate: null));
        Assert.True(await SessionEndedAsync(first.Clustering.SiloPort, clientCertificate: null, plainText: true));
    }

    private static async Task<SslStream> ConnectTlsAsync(TcpClient tcp, int port, X509Certificate2? clientCertificate, CancellationToken cancellationToken)
    {
        await tcp.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = clientCertificate is null ? null : [clientCertificate],
        }, cancellationToken);
        return tls;
    }

    /// <summary>The certificate the silo presents on <paramref name="port"/> to a client with <paramref name="clientCertificate"/>.</summary>
    private static async Task<X509Certificate2> ServerCertificateAsync(int port, X509Certificate2 clientCertificate)
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var tls = await ConnectTlsAsync(tcp, port, clientCertificate, timeout.Token);
        return X509CertificateLoader.LoadCertificate(tls.RemoteCertificate!.GetRawCertData());
    }

    /// <summary>True when the silo ends the connection (refused handshake, alert, or close); false when it is still open after 30 s.</summary>
    private static async Task<bool> SessionEndedAsync(int port, X509Certificate2? clientCertificate, bool plainText = false)
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            // TLS 1.3 answers a refused client certificate after the client's side of the handshake is done: read until the end.
            Stream stream = plainText ? await PlainAsync(tcp, port, timeout.Token) : await ConnectTlsAsync(tcp, port, clientCertificate, timeout.Token);
            await using var _ = stream;
            var buffer = new byte[64];
            while (await stream.ReadAsync(buffer, timeout.Token) > 0) { }
            return true;
        }
        catch (Exception e) when (e is AuthenticationException or IOException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    private static async Task<Stream> PlainAsync(TcpClient tcp, int port, CancellationToken cancellationToken)
    {
        await tcp.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        var stream = tcp.GetStream();
        await stream.WriteAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray(), cancellationToken);
        return stream;
    }

    [Fact]
    public void Tls_configuration_problems_name_the_file_and_the_problem()
    {
        var good = Issue("config-ca", "node");
        Assert.Empty(good.Problems(new ClusteringOptions()));
        var other = Issue("config-other-ca", "node");
        var withPassword = Issue("config-ca", "locked", password: "correct horse");

        // Listening beyond loopback requires TLS; a loopback-advertised Redis silo does not.
        var network = new ClusteringOptions { Mode = ClusteringMode.Redis, RedisConnectionString = "127.0.0.1:6379", AdvertisedIPAddress = "10.1.2.3" };
        Assert.Contains(new ClusterTlsOptions().Problems(network), p => p.Contains("listens beyond loopback") && p.Contains("LvMae:Tls:CertificatePath") && p.Contains("lvmae certs create"));
        Assert.Empty(good.Problems(network));
        Assert.Empty(new ClusterTlsOptions().Problems(new ClusteringOptions { Mode = ClusteringMode.Redis, RedisConnectionString = "127.0.0.1:6379", AdvertisedIPAddress = "127.0.0.1" }));
        var settings = new LvMaeSiloSettings { Clustering = network };
        Assert.Contains(Assert.Throws<LvMaeConfigurationException>(() => settings.Validate()).Problems, p => p.Contains("listens beyond loopback"));
        Assert.Contains(new ClusterTlsOptions { Required = true }.Problems(new ClusteringOptions()), p => p.Contains("Required"));

        string Problem(ClusterTlsOptions options) => Assert.Single(options.Problems(new ClusteringOptions()));
        var missing = Path.Combine(_certificates, "nope.pfx");
        Assert.Contains($"'{missing}': file not found", Problem(new ClusterTlsOptions { CertificatePath = missing, CaCertificatePath = good.CaCertificatePath }));
        Assert.Contains("CaCertificatePath is required", Problem(new ClusterTlsOptions { CertificatePath = good.CertificatePath }));
        var wrongPassword = Problem(new ClusterTlsOptions { CertificatePath = withPassword.CertificatePath, CaCertificatePath = good.CaCertificatePath, CertificatePassword = "wrong" });
        Assert.Contains(withPassword.CertificatePath!, wrongPassword);
        Assert.Contains("LVMAE__Tls__CertificatePassword", wrongPassword);
        Assert.Empty(withPassword.Problems(new ClusteringOptions()));
        var foreign = Problem(new ClusterTlsOptions { CertificatePath = other.CertificatePath, CaCertificatePath = good.CaCertificatePath });
        Assert.Contains($"'{other.CertificatePath}': not issued by the CA in LvMae:Tls:CaCertificatePath '{good.CaCertificatePath}'", foreign);
        Assert.Contains("is not a CA certificate", Problem(new ClusterTlsOptions { CertificatePath = good.CertificatePath, CaCertificatePath = WritePem("node-as-ca.crt", good) }));

        // PEM: a certificate with its key in KeyPath loads; without the key it is refused with the reason.
        using (var node = ClusterCredentials.Load(good))
        {
            var certificatePem = Path.Combine(_certificates, "node.crt");
            var keyPem = Path.Combine(_certificates, "node.key");
            File.WriteAllText(certificatePem, node.Certificate.ExportCertificatePem());
            File.WriteAllText(keyPem, node.Certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            Assert.Empty(new ClusterTlsOptions { CertificatePath = certificatePem, KeyPath = keyPem, CaCertificatePath = good.CaCertificatePath }.Problems(new ClusteringOptions()));
            Assert.Contains("private key", Problem(new ClusterTlsOptions { CertificatePath = certificatePem, CaCertificatePath = good.CaCertificatePath }));
        }

        // An expired certificate of the right CA.
        var expired = Path.Combine(_certificates, "expired.pfx");
        using (var ca = X509Certificate2.CreateFromPemFile(good.CaCertificatePath!, Path.Combine(Path.GetDirectoryName(good.CaCertificatePath)!, LabCertificates.CaKeyFile)))
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest("CN=expired", key, HashAlgorithmName.SHA256);
            var caStart = new DateTimeOffset(ca.NotBefore.ToUniversalTime(), TimeSpan.Zero); // 5 minutes before its creation
            using var issued = request.Create(ca, caStart, caStart.AddMinutes(1), [1, 2, 3, 4]);
            using var withKey = issued.CopyWithPrivateKey(key);
            File.WriteAllBytes(expired, withKey.Export(X509ContentType.Pkcs12));
        }
        Assert.Contains("expired on", Problem(new ClusterTlsOptions { CertificatePath = expired, CaCertificatePath = good.CaCertificatePath }));
    }

    private string WritePem(string name, ClusterTlsOptions options)
    {
        using var credentials = ClusterCredentials.Load(options);
        var path = Path.Combine(_certificates, name);
        File.WriteAllText(path, credentials.Certificate.ExportCertificatePem());
        return path;
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Lab_certificates_are_owner_only_and_a_second_node_comes_from_the_same_CA()
    {
        var dir = Path.Combine(_certificates, "lab");
        var first = LabCertificates.Create(dir);
        var second = LabCertificates.Create(dir, "silo-2");
        Assert.True(first.CaCreated);
        Assert.False(second.CaCreated);
        foreach (var file in new[] { first.CaCertificate, first.CaKey, first.NodeCertificate, second.NodeCertificate })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Throws<IOException>(() => LabCertificates.Create(dir)); // never overwrites a node certificate
        using var a = ClusterCredentials.Load(new ClusterTlsOptions { CertificatePath = first.NodeCertificate, CaCertificatePath = first.CaCertificate });
        using var b = ClusterCredentials.Load(new ClusterTlsOptions { CertificatePath = second.NodeCertificate, CaCertificatePath = first.CaCertificate });
        Assert.True(a.Trusts(b.Certificate));
        Assert.False(a.Trusts(a.Authority)); // the CA certificate itself is not a node
    }

    [Fact]
    public async Task Api_and_dashboard_of_a_silo_require_the_key_when_set_and_off_loopback()
    {
        Assert.Contains(new ApiOptions { Host = "0.0.0.0" }.Problems(), p => p.Contains("ApiKey"));
        Assert.Empty(new ApiOptions { Host = "0.0.0.0", ApiKey = "0123456789abcdef-key" }.Problems());

        var settings = SecuredSilo("api-key", new ClusterTlsOptions());
        settings.Api = new ApiOptions { Port = 0, ApiKey = "0123456789abcdef-key" };
        await using var silo = await LvMaeSiloHost.StartAsync(settings);
        using var http = new HttpClient { BaseAddress = silo.ApiAddress };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/dashboard")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/corpus/summary")).StatusCode);
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = silo.ApiAddress };
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/dashboard?apikey=0123456789abcdef-key")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/dashboard")).StatusCode);
        http.DefaultRequestHeaders.Add(StatusApi.ApiKeyHeader, "0123456789abcdef-key");
        Assert.Equal(0, (await http.GetFromJsonAsync<CorpusSummary>("/corpus/summary", ApiTests.Json))!.Total);
    }
}
