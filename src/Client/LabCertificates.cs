using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LvMae.Client;

/// <summary>The files of a lab certificate set: the CA's certificate and key, and one node certificate (PFX).</summary>
public sealed record LabCertificateFiles(string CaCertificate, string CaKey, string NodeCertificate, bool CaCreated);

/// <summary>
/// A self-signed CA and node certificates it issues, for a lab cluster (`lvmae certs create`): ECDSA P-256, node
/// certificates usable for TLS client and server authentication. Files are created readable by their owner only.
/// </summary>
public static class LabCertificates
{
    public const string CaCertificateFile = "ca.crt";
    public const string CaKeyFile = "ca.key";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Issues <c>&lt;node&gt;.pfx</c> in <paramref name="directory"/> from the CA there (ca.crt + ca.key), creating that CA
    /// first when the folder has none. Throws <see cref="IOException"/> when the node file exists already.
    /// </summary>
    public static LabCertificateFiles Create(string directory, string node = "node", string? password = null, int days = 365)
    {
        if (days < 1) throw new ArgumentOutOfRangeException(nameof(days), days, "certificates must be valid for at least 1 day");
        if (node.Length == 0 || node.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_'))
            throw new ArgumentException($"node name '{node}' may hold only letters, digits, '-' and '_'", nameof(node));
        directory = Path.GetFullPath(directory);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
        else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var caPath = Path.Combine(directory, CaCertificateFile);
        var caKeyPath = Path.Combine(directory, CaKeyFile);
        var nodePath = Path.Combine(directory, node + ".pfx");
        if (File.Exists(nodePath)) throw new IOException($"{nodePath} exists already: choose another node name or delete it");

        var caCreated = !File.Exists(caPath);
        using var ca = caCreated ? CreateAuthority(caPath, caKeyPath, Math.Max(days, 5 * 365)) : LoadAuthority(caPath, caKeyPath);
        using var nodeCertificate = Issue(ca, node, days);
        Write(nodePath, nodeCertificate.ExportPkcs12(Pkcs12ExportPbeParameters.Pbes2Aes256Sha256, password));
        return new LabCertificateFiles(caPath, caKeyPath, nodePath, caCreated);
    }

    private static X509Certificate2 CreateAuthority(string certificatePath, string keyPath, int days)
    {
        if (File.Exists(keyPath)) throw new IOException($"{keyPath} exists without {certificatePath}: restore the certificate or delete the key");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=LvMae lab CA {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss}, O=LvMae", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        var ca = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(days));
        Write(keyPath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()));
        Write(certificatePath, System.Text.Encoding.ASCII.GetBytes(ca.ExportCertificatePem()));
        return ca;
    }

    private static X509Certificate2 LoadAuthority(string certificatePath, string keyPath)
    {
        if (!File.Exists(keyPath)) throw new IOException($"{certificatePath} has no {keyPath} beside it: new certificates need the CA's private key");
        return X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, string node, int days)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={node}, O=LvMae", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false)); // TLS server + client
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(node);
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var now = DateTimeOffset.UtcNow;
        var notAfter = now.AddDays(days) < ca.NotAfter ? now.AddDays(days) : new DateTimeOffset(ca.NotAfter).AddMinutes(-1);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive serial number
        using var issued = request.Create(ca, now.AddMinutes(-5), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    private static void Write(string path, byte[] content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
        using var file = new FileStream(path, options);
        file.Write(content);
    }
}
