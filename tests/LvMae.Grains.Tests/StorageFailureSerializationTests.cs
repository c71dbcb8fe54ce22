using Azure;
using LvMae.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace LvMae.Grains.Tests;

/// <summary>
/// A storage exception thrown in a grain reaches the client through Orleans' serializer: whatever type or fields survive,
/// the classifier must still see a 501 or 403 (before issue 26 a 501 arrived with status 0 and was waited on as "no answer").
/// </summary>
public sealed class StorageFailureSerializationTests(Xunit.Abstractions.ITestOutputHelper log)
{
    private static readonly Serializer Serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

    private static Exception RoundTrip(Exception e) => Serializer.Deserialize<Exception>(Serializer.SerializeToArray<Exception>(e))!;

    [Fact]
    public void A_501_from_the_sdk_is_still_a_permanent_501_after_an_orleans_call()
    {
        var text = "Current API is not implemented yet when use a SQL database based metadata storage.\nRequestId:1\nTime:now\n" +
                   "Status: 501 (Current API is not implemented yet when use a SQL database based metadata storage.)\nErrorCode: NotImplemented\n";
        var received = RoundTrip(new RequestFailedException(501, text, "NotImplemented", null));
        log.WriteLine($"received {received.GetType().FullName}, status {(received as RequestFailedException)?.Status.ToString() ?? "-"}");
        var failure = StorageFailure.Find(received);
        Assert.NotNull(failure);
        Assert.Equal((501, true), (failure!.Status, failure.IsPermanent));
        Assert.False(StorageErrors.IsOutage(received));
        Assert.True(StorageFailure.IsPermanentFailure(new OrleansException("wrapped", received)));
    }

    [Fact]
    public void A_named_refusal_keeps_its_operation_and_blob_after_an_orleans_call()
    {
        var failure = new StorageFailure(StorageFailureKind.Permanent, 403, "AuthorizationPermissionMismatch", "not authorized", "This request is not authorized to perform this operation using this permission.",
            "Put Blob", "lvmae/videos/v1/source.mp4");
        var received = RoundTrip(new RequestFailedException(403, failure.Message + "\nStatus: 403\nErrorCode: AuthorizationPermissionMismatch", "AuthorizationPermissionMismatch", null));
        var again = StorageFailure.Find(received)!;
        Assert.Equal((403, true, "Put Blob", "lvmae/videos/v1/source.mp4"), (again.Status, again.IsPermanent, again.Operation, again.Resource));
        Assert.Equal(failure.StorageMessage, again.StorageMessage);
    }
}
