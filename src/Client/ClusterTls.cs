using Orleans.Connections.Security;

namespace LvMae.Client;

/// <summary>
/// Mutual TLS (Microsoft.Orleans.Connections.Security) on a silo (silo-to-silo and gateway ports) or a client, from
/// <see cref="ClusterTlsOptions"/>; nothing when TLS is not configured.
/// </summary>
public static class ClusterTls
{
    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, ClusterTlsOptions options)
    {
        if (!options.Enabled) return silo;
        var credentials = ClusterCredentials.Load(options);
        return silo.UseTls(credentials.Certificate, tls => RequireClusterCertificates(tls, credentials));
    }

    public static IClientBuilder UseClusterTls(this IClientBuilder client, ClusterTlsOptions options)
    {
        if (!options.Enabled) return client;
        var credentials = ClusterCredentials.Load(options);
        return client.UseTls(credentials.Certificate, tls => RequireClusterCertificates(tls, credentials));
    }

    private static void RequireClusterCertificates(TlsOptions tls, ClusterCredentials credentials)
    {
        // Both ends of every connection present a certificate, and accept the other's only when the cluster CA issued it.
        // Host names are not checked: silos are reached at addresses from the membership table; the CA is the identity.
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.RemoteCertificateValidation = (certificate, chain, _) => credentials.Trusts(certificate, chain);
    }
}
