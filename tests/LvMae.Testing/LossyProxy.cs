using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LvMae.Testing;

/// <summary>An HTTP request that passed through a <see cref="LossyProxy"/>: its request line and its body as UTF-8 text.</summary>
public sealed record ProxiedRequest(string Method, string Target, string Body);

/// <summary>
/// A loopback TCP proxy in front of a storage endpoint (Azurite) that can lose a response: the chosen request is forwarded
/// and applied, its response is thrown away and the client's connection closed, so the client sees a network error and
/// retries a write that already happened (what a storage crash does to the write in flight). It can also play an outage
/// (every connection closed at once) while storage itself keeps running. It reads each request's head and body
/// (Content-Length) to find request boundaries; responses are relayed as bytes. Clients must not pipeline (HttpClient does not).
/// </summary>
public sealed class LossyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _upstreamPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly object _gate = new();
    private readonly List<Connection> _connections = [];
    private Armed? _armed;
    private volatile bool _down;

    public LossyProxy(int upstreamPort)
    {
        _upstreamPort = upstreamPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    private List<ProxiedRequest> Requests { get; } = [];

    /// <summary>The last <paramref name="count"/> requests forwarded (any connection), in arrival order.</summary>
    public IReadOnlyList<ProxiedRequest> Recent(int count)
    {
        lock (_gate) return Requests.TakeLast(count).ToList();
    }

    /// <summary>
    /// The next request matching <paramref name="match"/>, after <paramref name="skip"/> earlier matches, is applied but its
    /// response is lost. The task completes once storage has answered it (the write is applied) and the client's connection is gone.
    /// <paramref name="thenDown"/>: the proxy goes <see cref="Down"/> at that moment, so the client's retries find no storage.
    /// </summary>
    public Task<ProxiedRequest> LoseResponse(Func<ProxiedRequest, bool> match, int skip = 0, bool thenDown = false)
    {
        var armed = new Armed(match, skip, thenDown);
        lock (_gate) _armed = armed;
        return armed.Done.Task;
    }

    /// <summary>While down, every connection is closed on arrival and open ones are cut (storage unreachable; the data stays).</summary>
    public bool Down
    {
        get => _down;
        set
        {
            _down = value;
            if (!value) return;
            lock (_gate) foreach (var c in _connections.ToList()) c.Close();
        }
    }

    /// <summary>A connection string with the blob endpoint through this proxy and the table endpoint direct.</summary>
    public static string BlobsThrough(AzuriteFixture azurite, LossyProxy proxy) =>
        azurite.ConnectionString.Replace($"BlobEndpoint=http://127.0.0.1:{azurite.Port}/", $"BlobEndpoint=http://127.0.0.1:{proxy.Port}/", StringComparison.Ordinal);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            if (_down) { client.Dispose(); continue; }
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var upstream = new TcpClient();
        var connection = new Connection(client, upstream);
        lock (_gate) _connections.Add(connection);
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort, _stop.Token);
            var fromClient = client.GetStream();
            var toUpstream = upstream.GetStream();
            var responses = RelayResponsesAsync(connection);
            var buffer = new List<byte>();
            var chunk = new byte[64 << 10];
            while (true)
            {
                // One request: its head up to the blank line, then Content-Length bytes of body.
                int headEnd;
                while ((headEnd = IndexOfBlankLine(buffer)) < 0)
                {
                    var n = await fromClient.ReadAsync(chunk, _stop.Token);
                    if (n == 0) return;
                    buffer.AddRange(chunk.AsSpan(0, n).ToArray());
                }
                var head = Encoding.ASCII.GetString(buffer.GetRange(0, headEnd).ToArray());
                var length = ContentLength(head);
                var total = headEnd + 4 + length;
                while (buffer.Count < total)
                {
                    var n = await fromClient.ReadAsync(chunk, _stop.Token);
                    if (n == 0) return;
                    buffer.AddRange(chunk.AsSpan(0, n).ToArray());
                }
                var requestLine = head[..head.IndexOf("\r\n", StringComparison.Ordinal)].Split(' ');
                var body = Encoding.UTF8.GetString(buffer.GetRange(headEnd + 4, length).ToArray());
                var request = new ProxiedRequest(requestLine[0], requestLine.Length > 1 ? requestLine[1] : "", body);
                lock (_gate)
                {
                    Requests.Add(request);
                    if (_armed is { } armed && armed.Match(request))
                    {
                        if (armed.Skip-- == 0)
                        {
                            armed.Request = request;
                            connection.Losing = armed;
                            _armed = null;
                        }
                    }
                }
                await toUpstream.WriteAsync(buffer.GetRange(0, total).ToArray(), _stop.Token);
                buffer.RemoveRange(0, total);
                if (connection.Losing is not null)
                {
                    await responses; // ends once storage answered the lost request
                    return;
                }
            }
        }
        catch (Exception) { /* a cut connection: the client sees it as a network error */ }
        finally
        {
            connection.Close();
            lock (_gate) _connections.Remove(connection);
        }
    }

    /// <summary>Storage's answers, byte for byte, until a request's response is to be lost: its first bytes end the connection.</summary>
    private async Task RelayResponsesAsync(Connection connection)
    {
        var fromUpstream = connection.Upstream.GetStream();
        var toClient = connection.Client.GetStream();
        var chunk = new byte[64 << 10];
        try
        {
            while (true)
            {
                var n = await fromUpstream.ReadAsync(chunk, _stop.Token);
                if (n == 0) break;
                if (connection.Losing is { } lost)
                {
                    if (lost.ThenDown) Down = true;
                    connection.Close(); // storage has applied the request; its answer never reaches the client
                    lost.Done.TrySetResult(lost.Request!);
                    return;
                }
                await toClient.WriteAsync(chunk.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception) { }
        connection.Close();
    }

    private static int IndexOfBlankLine(List<byte> buffer)
    {
        for (var i = 0; i + 3 < buffer.Count; i++)
            if (buffer[i] == '\r' && buffer[i + 1] == '\n' && buffer[i + 2] == '\r' && buffer[i + 3] == '\n') return i;
        return -1;
    }

    private static int ContentLength(string head)
    {
        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase))
                throw new NotSupportedException("chunked requests are not supported by this proxy");
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                return int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _accepting; } catch (Exception) { }
        lock (_gate) foreach (var c in _connections.ToList()) c.Close();
        _stop.Dispose();
    }

    private sealed class Armed(Func<ProxiedRequest, bool> match, int skip, bool thenDown)
    {
        public bool ThenDown { get; } = thenDown;
        public Func<ProxiedRequest, bool> Match { get; } = match;
        public int Skip { get; set; } = skip;
        public ProxiedRequest? Request { get; set; }
        public TaskCompletionSource<ProxiedRequest> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Connection(TcpClient client, TcpClient upstream)
    {
        public TcpClient Client { get; } = client;
        public TcpClient Upstream { get; } = upstream;
        public volatile Armed? Losing;

        public void Close()
        {
            try { Client.Client.Close(); } catch (Exception) { }
            try { Upstream.Client.Close(); } catch (Exception) { }
        }
    }
}
