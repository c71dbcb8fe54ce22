using System.Net;
using System.Net.Sockets;

namespace LvMae.Client;

/// <summary>
/// Mutual TLS on the silo-to-silo and client-to-gateway ports (section LvMae:Tls). Every silo and client presents a
/// certificate issued by the cluster's CA and accepts only peers whose certificate that CA issued; a peer without one
/// cannot connect. Required whenever a silo listens beyond loopback. `lvmae certs create --out DIR` makes a lab pair.
/// </summary>
public sealed class ClusterTlsOptions
{
    public const string Section = "LvMae:Tls";

    /// <summary>This node's certificate with its private key: a PFX (PKCS#12), or a PEM certificate with <see cref="KeyPath"/>.</summary>
    public string? CertificatePath { get; set; }
    /// <summary>PEM private key, when <see cref="CertificatePath"/> is a PEM certificate without its key.</summary>
    public string? KeyPath { get; set; }
    /// <summary>Password of the PFX; give it as LVMAE__Tls__CertificatePassword rather than in a file.</summary>
    public string? CertificatePassword { get; set; }
    /// <summary>The cluster CA's certificate (PEM or DER): peers must present a certificate it issued.</summary>
    public string? CaCertificatePath { get; set; }
    /// <summary>Refuse to start without TLS even on loopback.</summary>
    public bool Required { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);

    /// <summary>Problems of these options for a silo with <paramref name="clustering"/>: files that do not load, and TLS missing where the silo listens beyond loopback.</summary>
    public IEnumerable<string> Problems(ClusteringOptions clustering)
    {
        if (!Enabled)
        {
            if (Required) yield return "LvMae:Tls:Required is true but LvMae:Tls:CertificatePath is not set";
            if (SiloNetwork.ListensBeyondLoopback(clustering))
                yield return $"this silo listens beyond loopback (LvMae:Clustering:Mode {clustering.Mode}, advertised address {SiloNetwork.AdvertisedAddress(clustering)}): " +
                             "set LvMae:Tls:CertificatePath and LvMae:Tls:CaCertificatePath (LVMAE__Tls__...) so its silo and gateway ports are not open to the network " +
                             "(a lab pair: `lvmae certs create --out DIR`), or set LvMae:Clustering:AdvertisedIPAddress to 127.0.0.1 for a one-machine cluster";
            yield break;
        }
        foreach (var problem in ClusterCredentials.Check(this)) yield return problem;
    }
}

/// <summary>Where a silo listens: loopback for Localhost clustering and loopback-advertised silos, every interface otherwise.</summary>
public static class SiloNetwork
{
    /// <summary>The address other silos and clients reach this silo at: LvMae:Clustering:AdvertisedIPAddress, else the first non-loopback IPv4.</summary>
    public static IPAddress AdvertisedAddress(ClusteringOptions c)
    {
        if (c.Mode == ClusteringMode.Localhost) return IPAddress.Loopback;
        if (c.AdvertisedIPAddress is not null && IPAddress.TryParse(c.AdvertisedIPAddress, out var configured)) return configured;
        var address = Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        return address ?? IPAddress.Loopback;
    }

    /// <summary>True when the silo and gateway ports are reachable from other machines (they then listen on every interface).</summary>
    public static bool ListensBeyondLoopback(ClusteringOptions c) => !IPAddress.IsLoopback(AdvertisedAddress(c));

    /// <summary>The address the silo and gateway ports are bound to.</summary>
    public static IPAddress ListenAddress(ClusteringOptions c) => ListensBeyondLoopback(c) ? IPAddress.Any : AdvertisedAddress(c);
}
