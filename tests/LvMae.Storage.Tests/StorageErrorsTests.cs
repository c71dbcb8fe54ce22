using Azure;

namespace LvMae.Storage.Tests;

public class StorageErrorsTests
{
    [Theory]
    [InlineData(0, true)]      // no answer (network)
    [InlineData(408, true)]
    [InlineData(429, true)]
    [InlineData(500, true)]
    [InlineData(503, true)]
    [InlineData(504, true)]
    [InlineData(501, false)]   // Azurite with SQL metadata answers Append Block with 501 on every try
    [InlineData(505, false)]
    [InlineData(403, false)]
    [InlineData(404, false)]
    [InlineData(409, false)]
    public void Only_answers_a_retry_can_change_are_outages(int status, bool outage)
    {
        Assert.Equal(outage, StorageErrors.IsOutage(new RequestFailedException(status, "test")));
        Assert.Equal(outage, StorageErrors.IsOutage(new AggregateException(new RequestFailedException(status, "test"))));
    }
}
