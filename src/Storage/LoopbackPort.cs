using System.Net;
using System.Net.Sockets;

namespace LvMae.Storage;

/// <summary>TCP ports on 127.0.0.1 for the local servers LvMae starts (Azurite, MariaDB, the demo's silo).</summary>
public static class LoopbackPort
{
    /// <summary>Whether something accepts connections on <paramref name="port"/>.</summary>
    public static bool Listening(int port)
    {
        try
        {
            using var tcp = new TcpClient();
            tcp.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException) { return false; }
    }

    /// <summary>A port that was free a moment ago (the system's pick).</summary>
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try { return ((IPEndPoint)listener.LocalEndpoint).Port; }
        finally { listener.Stop(); }
    }
}
