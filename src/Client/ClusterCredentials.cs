using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LvMae.Client;

/// <summary>
/// This node's certificate and the cluster CA it trusts, loaded from <see cref="ClusterTlsOptions"/>. Peers are trusted
/// when their certificate chains to that CA (and only to it: the machine's trust store plays no part). A CA rather than
/// pinned certificates: adding a machine or client is issuing one certificate, not editing every other node's list.
/// </summary>
public sealed class ClusterCredentials : IDisposable
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private ClusterCredentials(X509Certificate2 certificate, X509Certificate2 authority)
    {
        Certificate = certificate;
        Authority = authority;
    }

    /// <summary>This node's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }
    /// <summary>The cluster CA.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>Loads both certificates, or throws <see cref="LvMaeConfigurationException"/> naming each file and its problem.</summary>
    public static ClusterCredentials Load(ClusterTlsOptions options)
    {
        var (credentials, problems) = TryLoad(options);
        return credentials ?? throw new LvMaeConfigurationException(problems);
    }

    /// <summary>What is wrong with the certificate files of <paramref name="options"/> (nothing when they load and fit together).</summary>
    public static IReadOnlyList<string> Check(ClusterTlsOptions options)
    {
        var (credentials, problems) = TryLoad(options);
        credentials?.Dispose();
        return problems;
    }

    /// <summary>True when <paramref name="peer"/> was issued by the cluster CA and is valid now.</summary>
    public bool Trusts(X509Certificate2 peer, X509Chain? presented = null) => ChainProblem(peer, presented) is null;

    private string? ChainProblem(X509Certificate2 peer, X509Chain? presented = null)
    {
        if (peer.RawDataMemory.Span.SequenceEqual(Authority.RawDataMemory.Span)) return "it is the CA certificate itself, not one it issued";
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // Intermediates the peer sent along (a CA with intermediates); the lab CA issues directly.
        if (presented is not null)
            foreach (var element in presented.ChainElements.Skip(1)) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        if (chain.Build(peer)) return null;
        return string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("its chain does not build"));
    }

    private static (ClusterCredentials? Credentials, List<string> Problems) TryLoad(ClusterTlsOptions options)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.CaCertificatePath))
            problems.Add("LvMae:Tls:CaCertificatePath is required with LvMae:Tls:CertificatePath: the CA certificate whose certificates this node accepts");
        var certificate = LoadNodeCertificate(options, problems);
        var authority = string.IsNullOrWhiteSpace(options.CaCertificatePath) ? null : LoadAuthority(options.CaCertificatePath, problems);
        if (certificate is not null && authority is not null)
        {
            var credentials = new ClusterCredentials(certificate, authority);
            if (credentials.ChainProblem(certificate) is { } problem)
                problems.Add($"LvMae:Tls:CertificatePath '{options.CertificatePath}': not issued by the CA in LvMae:Tls:CaCertificatePath '{options.CaCertificatePath}' ({problem})");
            if (problems.Count == 0) return (credentials, problems);
            credentials.Dispose();
            return (null, problems);
        }
        certificate?.Dispose();
        authority?.Dispose();
        return (null, problems);
    }

    private static X509Certificate2? LoadNodeCertificate(ClusterTlsOptions options, List<string> problems)
    {
        var path = options.CertificatePath!;
        var name = $"LvMae:Tls:CertificatePath '{path}'";
        if (!File.Exists(path)) { problems.Add($"{name}: file not found"); return null; }
        X509Certificate2 certificate;
        try
        {
            if (!string.IsNullOrWhiteSpace(options.KeyPath))
            {
                if (!File.Exists(options.KeyPath)) { problems.Add($"LvMae:Tls:KeyPath '{options.KeyPath}': file not found"); return null; }
                certificate = X509Certificate2.CreateFromPemFile(path, options.KeyPath);
            }
            else if (IsPem(path))
                certificate = X509Certificate2.CreateFromPemFile(path); // a PEM holding both the certificate and its key
            else
                certificate = X509CertificateLoader.LoadPkcs12FromFile(path, options.CertificatePassword);
        }
        catch (CryptographicException e)
        {
            var hint = IsPem(path) ? " (a PEM certificate needs its private key in the same file or in LvMae:Tls:KeyPath)"
                : string.IsNullOrEmpty(options.CertificatePassword) ? " (if the PFX has a password, set LVMAE__Tls__CertificatePassword)" : " (is LVMAE__Tls__CertificatePassword right?)";
            problems.Add($"{name}: cannot be read: {e.Message.TrimEnd('.')}{hint}");
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            problems.Add($"{name}: cannot be read: {e.Message}");
            return null;
        }

        var count = problems.Count;
        if (!certificate.HasPrivateKey) problems.Add($"{name}: holds no private key (a PEM certificate needs LvMae:Tls:KeyPath)");
        if (certificate.NotAfter < DateTime.Now) problems.Add($"{name}: expired on {certificate.NotAfter:u}");
        if (certificate.NotBefore > DateTime.Now) problems.Add($"{name}: not valid before {certificate.NotBefore:u}");
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault()?.EnhancedKeyUsages;
        if (usages is not null && !(Contains(usages, ServerAuthentication) && Contains(usages, ClientAuthentication)))
            problems.Add($"{name}: its Extended Key Usage must include both TLS server (1.3.6.1.5.5.7.3.1) and client (1.3.6.1.5.5.7.3.2) authentication");
        if (problems.Count == count) return certificate;
        certificate.Dispose();
        return null;
    }

    private static X509Certificate2? LoadAuthority(string path, List<string> problems)
    {
        var name = $"LvMae:Tls:CaCertificatePath '{path}'";
        if (!File.Exists(path)) { problems.Add($"{name}: file not found"); return null; }
        X509Certificate2 authority;
        try { authority = X509CertificateLoader.LoadCertificateFromFile(path); }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            problems.Add($"{name}: cannot be read as a PEM or DER certificate: {e.Message}");
            return null;
        }
        if (authority.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            problems.Add($"{name}: {authority.Subject} is not a CA certificate (no CA basic constraint); give the certificate of the CA that issued the nodes' certificates");
            authority.Dispose();
            return null;
        }
        if (authority.NotAfter < DateTime.Now) problems.Add($"{name}: expired on {authority.NotAfter:u}");
        return authority;
    }

    private static bool Contains(OidCollection oids, Oid oid) => oids.Cast<Oid>().Any(o => o.Value == oid.Value);

    private static bool IsPem(string path)
    {
        using var reader = new StreamReader(path);
        var buffer = new char[256];
        var read = reader.Read(buffer, 0, buffer.Length);
        return new string(buffer, 0, read).Contains("-----BEGIN ", StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        Authority.Dispose();
    }
}
