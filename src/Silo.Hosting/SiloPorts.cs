using System.Net;
using System.Net.Sockets;
using LvMae.Client;

namespace LvMae.Silo;

/// <summary>The ports a silo is about to listen on, checked before it starts so a busy one gets a clear message.</summary>
public static class SiloPorts
{
    /// <summary>Why the silo of <paramref name="settings"/> cannot listen (every port another process holds), or null when it can.</summary>
    public static string? BusyMessage(LvMaeSiloSettings settings)
    {
        var c = settings.Clustering;
        var listen = SiloNetwork.ListenAddress(c);
        var ports = new List<(IPAddress Address, int Port, string What)>
        {
            (listen, c.SiloPort, "silo-to-silo port, LvMae:Clustering:SiloPort"),
            (listen, c.GatewayPort, "gateway port, LvMae:Clustering:GatewayPort"),
        };
        if (settings.Api is { Enabled: true, Port: > 0 })
            ports.Add((settings.Api.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(settings.Api.Host), settings.Api.Port, "HTTP API port, LvMae:Api:Port"));
        var busy = ports.Where(p => !Free(p.Address, p.Port)).Select(p => $"{p.Address}:{p.Port} ({p.What})").ToList();
        return busy.Count == 0 ? null
            : "cannot start the silo: in use by another process:\n  - " + string.Join("\n  - ", busy) +
              "\nIs another `lvmae up` or silo running? `lvmae down` (in the folder of the `lvmae up`) stops it; or choose other ports (LVMAE__Clustering__SiloPort, LVMAE__Clustering__GatewayPort, LVMAE__Api__Port).";
    }

    public static bool Free(IPAddress address, int port)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, port));
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied) { return false; }
    }
}
