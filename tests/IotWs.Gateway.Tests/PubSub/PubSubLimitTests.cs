using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.PubSub;

public sealed class PubSubLimitTests
{
    [Fact]
    public async Task A_connection_may_hold_at_most_the_configured_number_of_subscriptions()
    {
        await using var gateway = await TestGateway.StartAsync(null, "MaxSubscriptionsPerConnection=3");
        await using var client = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        foreach (var filter in new[] { "a", "b/+", "c/#" }) await PubSubTests.Subscribe(client, filter);

        await client.SendAsync(new { type = "subscribe", topic = "d" });
        var refused = await client.ReceiveAsync("subscribe_response");
        Assert.False(refused.GetProperty("success").GetBoolean());
        Assert.Equal("forbidden", refused.GetProperty("error").GetString());
        Assert.Contains("3", refused.GetProperty("message").GetString());

        // Subscribing again to a held filter is not a new subscription; freeing one makes room.
        await PubSubTests.Subscribe(client, "a");
        await client.SendAsync(new { type = "unsubscribe", topic = "b/+" });
        await client.ReceiveAsync("unsubscribe_response");
        await PubSubTests.Subscribe(client, "d");
    }
}
