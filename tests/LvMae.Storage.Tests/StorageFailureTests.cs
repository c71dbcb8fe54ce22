using System.Net;
using System.Net.Sockets;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Sas;
using LvMae.Testing;

namespace LvMae.Storage.Tests;

/// <summary>The classifier on its own: which answers are waited on and which are reported, and what the report says.</summary>
public sealed class StorageFailureClassifyTests
{
    [Theory]
    [InlineData(0, null, false)]
    [InlineData(408, null, false)]
    [InlineData(429, null, false)]
    [InlineData(500, "InternalError", false)]
    [InlineData(503, "ServerBusy", false)]
    [InlineData(504, null, false)]
    [InlineData(501, "NotImplemented", true)]
    [InlineData(505, null, true)]
    [InlineData(403, "AuthorizationFailure", true)]
    [InlineData(403, "AuthorizationPermissionMismatch", true)]
    [InlineData(401, null, true)]
    [InlineData(404, "ContainerNotFound", true)]
    [InlineData(400, "InvalidResourceName", true)]
    public void Transient_answers_are_waited_on_and_the_rest_reported(int status, string? code, bool permanent)
    {
        var failure = StorageFailure.Classify(new RequestFailedException(status, "the storage's words", code, null));
        Assert.Equal(permanent ? StorageFailureKind.Permanent : StorageFailureKind.Transient, failure.Kind);
        Assert.Equal(status, failure.Status);
        Assert.Equal(!permanent, StorageErrors.IsOutage(new RequestFailedException(status, "x", code, null)));
    }

    [Fact]
    public void An_exception_whose_fields_were_lost_on_the_way_is_classified_from_its_message()
    {
        // What a RequestFailedException can look like after an Orleans call: the message survives, Status and ErrorCode may not.
        var text = "Current API is not implemented yet when use a SQL database based metadata storage.\nRequestId:1\nTime:now\n" +
                   "Status: 501 (Current API is not implemented yet when use a SQL database based metadata storage.)\nErrorCode: NotImplemented\n";
        var failure = StorageFailure.Classify(new RequestFailedException(text));
        Assert.Equal((501, "NotImplemented", true), (failure.Status, failure.ErrorCode, failure.IsPermanent));
        Assert.Equal("Current API is not implemented yet when use a SQL database based metadata storage.", failure.StorageMessage);
        Assert.False(StorageErrors.IsOutage(new RequestFailedException(text)));
        Assert.False(StorageErrors.IsOutage(new AggregateException(new RequestFailedException(text))));
    }

    [Fact]
    public void The_message_names_the_operation_the_blob_the_meaning_and_the_storage_s_words()
    {
        var failure = new StorageFailure(StorageFailureKind.Permanent, 501, "NotImplemented", StorageFailure.Explain(501, "NotImplemented").Explanation,
            "Current API is not implemented yet", "Append Block", "lvmae/index/shard-0001/g00000000.log.jsonl");
        Assert.Equal("storage Append Block on lvmae/index/shard-0001/g00000000.log.jsonl failed: 501 NotImplemented: this storage does not implement the operation " +
                     "(Azurite with its blob metadata in SQL lacks Append Block, page blobs and copies); retrying cannot help (storage said: \"Current API is not implemented yet\")",
            failure.Message);
        // Its own message, carried as text, classifies back to the same operation, blob and words.
        var again = StorageFailure.Classify(new RequestFailedException(failure.Message + "\nStatus: 501\nErrorCode: NotImplemented"));
        Assert.Equal((failure.Operation, failure.Resource, failure.StorageMessage, failure.Status), (again.Operation, again.Resource, again.StorageMessage, again.Status));
    }

    [Theory]
    [InlineData("PUT", "?comp=appendblock", "Append Block")]
    [InlineData("PUT", "?comp=block&blockid=AAAA", "Put Block")]
    [InlineData("PUT", "?comp=blocklist", "Put Block List")]
    [InlineData("GET", "?comp=blocklist&blocklisttype=committed", "Get Block List")]
    [InlineData("PUT", "", "Put Blob")]
    [InlineData("GET", "", "Get Blob")]
    [InlineData("HEAD", "", "Get Blob Properties")]
    [InlineData("PUT", "?restype=container", "Create Container")]
    [InlineData("GET", "?restype=container&comp=list&prefix=a", "List Blobs")]
    public void Operations_are_named_as_the_REST_API_names_them(string method, string query, string name)
    {
        Assert.Equal(name, StorageFailure.OperationName(method, query));
    }

    [Fact]
    public void Resources_are_container_and_blob_without_the_account_of_a_path_style_endpoint()
    {
        Assert.Equal("lvmae/index/x.jsonl", StorageFailure.ResourceName(new Uri("http://127.0.0.1:10000/devstoreaccount1/lvmae/index/x.jsonl")));
        Assert.Equal("lvmae/videos/a b.mp4", StorageFailure.ResourceName(new Uri("https://acct.blob.core.windows.net/lvmae/videos/a%20b.mp4")));
    }

    [Fact]
    public void A_host_that_does_not_resolve_is_a_missing_account_and_a_refused_connection_an_outage()
    {
        var missing = new HttpRequestException("no such host", new SocketException((int)SocketError.HostNotFound));
        Assert.True(StorageFailure.Find(missing)!.IsPermanent);
        Assert.False(StorageErrors.IsOutage(missing));
        var refused = new HttpRequestException("refused", new SocketException((int)SocketError.ConnectionRefused));
        Assert.False(StorageFailure.Find(refused)!.IsPermanent);
        Assert.True(StorageErrors.IsOutage(refused));
        Assert.Null(StorageFailure.Find(new InvalidOperationException("not storage")));
    }
}

/// <summary>Each kind against a real Azurite (the 501 is in Grains.Tests' MariaDbStorageTests: Azurite over MariaDB).</summary>
public sealed class StorageFailureAzuriteTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task A_wrong_account_key_is_a_403_reported_with_the_operation_and_blob()
    {
        var wrongKey = Convert.ToBase64String(Encoding.ASCII.GetBytes(new string('k', 64)));
        var connection = azurite.ConnectionString.Replace(azurite.ConnectionString.Split(';').Single(p => p.StartsWith("AccountKey=", StringComparison.Ordinal)), $"AccountKey={wrongKey}");
        var container = await azurite.NewContainerAsync("wrongkey");
        var store = new BlobStore(connection, container.Name);
        var e = await Assert.ThrowsAnyAsync<RequestFailedException>(() => store.Blob("videos/a.mp4").UploadAsync(BinaryData.FromString("x")));
        var failure = StorageFailure.Find(e)!;
        Assert.Equal((403, true, "Put Blob", $"{container.Name}/videos/a.mp4"), (failure.Status, failure.IsPermanent, failure.Operation, failure.Resource));
        Assert.Contains("not authorized", failure.Message);
        Assert.False(string.IsNullOrEmpty(failure.StorageMessage));
        Assert.False(StorageErrors.IsOutage(e));
    }

    [Fact]
    public async Task A_sas_without_write_permission_is_a_403_reported_with_the_storage_s_words()
    {
        var container = await azurite.NewContainerAsync("readsas");
        var sas = container.GenerateSasUri(BlobContainerSasPermissions.Read | BlobContainerSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1));
        var readOnly = new BlobContainerClient(sas, StorageFailure.BlobOptions());
        var e = await Assert.ThrowsAnyAsync<RequestFailedException>(() => readOnly.GetBlobClient("runs/r/config.json").UploadAsync(BinaryData.FromString("{}")));
        var failure = StorageFailure.Find(e)!;
        Assert.Equal((403, true, "Put Blob"), (failure.Status, failure.IsPermanent, failure.Operation));
        Assert.Equal($"{container.Name}/runs/r/config.json", failure.Resource);
        Assert.Contains("permission", failure.StorageMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_missing_container_is_permanent_and_says_so()
    {
        var client = new BlobContainerClient(azurite.ConnectionString, $"missing-{Guid.NewGuid():N}"[..30], StorageFailure.BlobOptions());
        var e = await Assert.ThrowsAnyAsync<RequestFailedException>(() => client.GetBlobClient("a.npy").DownloadContentAsync());
        var failure = StorageFailure.Find(e)!;
        Assert.Equal((404, "ContainerNotFound", true), (failure.Status, failure.ErrorCode, failure.IsPermanent));
        Assert.Contains("the container does not exist", failure.Message);
        Assert.False(StorageErrors.IsOutage(e));
    }

    [Fact]
    public async Task A_stopped_storage_is_an_outage_waited_on()
    {
        // Its own emulator: stopping the class fixture's would disturb the other tests.
        var own = new AzuriteFixture();
        await own.InitializeAsync();
        try
        {
            var store = new BlobStore(new BlobContainerClient(own.ConnectionString, "stopped", new BlobClientOptions { Retry = { MaxRetries = 1, Delay = TimeSpan.FromMilliseconds(10) } }));
            await own.StopAsync();
            var e = await Assert.ThrowsAnyAsync<Exception>(() => store.TryDownloadAsync("a"));
            Assert.True(StorageErrors.IsOutage(e), e.ToString());
            Assert.False(StorageFailure.Find(e)!.IsPermanent);
        }
        finally { await own.DisposeAsync(); }
    }

    [Theory]
    [InlineData(503, "ServerBusy")]
    [InlineData(500, "InternalError")]
    public async Task A_busy_or_failing_storage_is_an_outage_waited_on(int status, string code)
    {
        // Azurite does not answer 500/503 on demand: a loopback server that answers every request so stands in for it.
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var port = ((IPEndPoint)server.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var serving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await server.AcceptTcpClientAsync(stop.Token);
                var stream = client.GetStream();
                // Read the request's head (its body, if any, is not needed: the connection closes after the answer).
                var head = new StringBuilder();
                var buffer = new byte[16384];
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await stream.ReadAsync(buffer, stop.Token);
                    if (read == 0) break;
                    head.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }
                var body = $"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>try later</Message></Error>";
                var response = $"HTTP/1.1 {status} {code}\r\nx-ms-error-code: {code}\r\nContent-Type: application/xml\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(response), stop.Token);
            }
        });
        try
        {
            var connection = azurite.ConnectionString.Replace($"127.0.0.1:{azurite.Port}", $"127.0.0.1:{port}");
            var store = new BlobStore(new BlobContainerClient(connection, "busy", new BlobClientOptions { Retry = { MaxRetries = 1, Delay = TimeSpan.FromMilliseconds(10) } }));
            var e = await Assert.ThrowsAnyAsync<Exception>(() => store.TryDownloadAsync("a"));
            Assert.True(StorageErrors.IsOutage(e), e.ToString());
            Assert.Equal(StorageFailureKind.Transient, StorageFailure.Find(e)!.Kind);
        }
        finally
        {
            await stop.CancelAsync();
            try { await serving; } catch (OperationCanceledException) { }
        }
    }
}
