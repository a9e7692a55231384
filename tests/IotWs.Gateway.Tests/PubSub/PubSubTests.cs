using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.PubSub;

/// <summary>One gateway shared by the rows of the wildcard table.</summary>
public sealed class SharedGateway : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;
    public string TechnicianKey { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Gateway = await TestGateway.StartAsync();
        TechnicianKey = Gateway.AddKey("technician");
    }

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

public sealed class PubSubTests(SharedGateway shared) : IClassFixture<SharedGateway>
{
    private TestGateway Gateway => shared.Gateway;

    [Theory]
    [InlineData("sensor_updates", "sensor_updates", true)]
    [InlineData("sensor_updates", "sensor_updates/extra", false)]
    [InlineData("Sensor_updates", "sensor_updates", false)]
    [InlineData("devices/+/readings", "devices/esp-1/readings", true)]
    [InlineData("devices/+/readings", "devices/esp-1/status", false)]
    [InlineData("devices/+/readings", "devices/a/b/readings", false)]
    [InlineData("devices/#", "devices/esp-1/readings", true)]
    [InlineData("devices/#", "devices", true)]
    [InlineData("devices/#", "devicesx/esp-1", false)]
    [InlineData("#", "system_alerts", true)]
    [InlineData("#", "devices/esp-1/readings", true)]
    [InlineData("+", "temperature-alerts", true)]
    [InlineData("+", "devices/esp-1", false)]
    [InlineData("+/+", "devices/esp-1", true)]
    [InlineData("devices/esp-1/+", "devices/esp-1/readings", true)]
    [InlineData("devices/esp-1/+", "devices/esp-2/readings", false)]
    [InlineData("+/esp-1/#", "devices/esp-1/readings", true)]
    [InlineData("streams/+", "streams/upload_1.bin", true)]
    public async Task A_subscription_filter_receives_exactly_the_topics_it_matches(string filter, string topic, bool delivered)
    {
        await using var publisher = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await using var subscriber = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await Subscribe(subscriber, filter);
        await Subscribe(subscriber, "zz-end");

        await publisher.SendAsync(new { type = "publish", topic, data = new { probe = topic } });
        // Messages of one publisher reach a subscriber in order: the end marker closes the window.
        await publisher.SendAsync(new { type = "publish", topic = "zz-end", data = new { probe = "end" } });

        var seen = new List<string>();
        while (true)
        {
            var message = await subscriber.ReceiveAsync("publish");
            var t = message.GetProperty("topic").GetString()!;
            if (t == "zz-end") break;
            seen.Add(t);
        }
        Assert.Equal(delivered ? [topic] : [], seen);
    }

    [Fact]
    public async Task A_publish_reaches_other_subscribers_with_topic_data_timestamp_and_source_but_not_its_sender()
    {
        await using var publisher = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await using var subscriber = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await Subscribe(publisher, "system_alerts");
        await Subscribe(subscriber, "system_alerts");
        var publisherId = ClientIdOf(publisher);

        await publisher.SendAsync(new { type = "publish", topic = "system_alerts", data = new { level = "info", message = "Test alert from dashboard", source = "user_interface" } });

        var received = await subscriber.ReceiveAsync("publish");
        Assert.Equal("system_alerts", received.GetProperty("topic").GetString());
        Assert.Equal("Test alert from dashboard", received.GetProperty("data").GetProperty("message").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", received.GetProperty("timestamp").GetString());
        Assert.Equal(publisherId, received.GetProperty("source").GetString());
        Assert.True(await publisher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task A_connection_holding_several_matching_filters_gets_one_copy()
    {
        await using var publisher = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await using var subscriber = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await Subscribe(subscriber, "devices/#");
        await Subscribe(subscriber, "devices/+/readings");
        await Subscribe(subscriber, "devices/esp-9/readings");

        await publisher.SendAsync(new { type = "publish", topic = "devices/esp-9/readings", data = new { n = 1 } });
        await publisher.SendAsync(new { type = "publish", topic = "devices/esp-9/end", data = new { n = 2 } });

        Assert.Equal(1, (await subscriber.ReceiveAsync("publish")).GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(2, (await subscriber.ReceiveAsync("publish")).GetProperty("data").GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task Publish_rights_follow_the_role_device_own_subtree_viewer_none_technician_and_admin_anywhere()
    {
        var token = Gateway.AddDevice("esp-roles");
        var viewerKey = Gateway.AddKey("viewer");
        var adminKey = Gateway.AddKey("admin");
        await using var watcher = await Gateway.ConnectWithKeyAsync(viewerKey);
        await Subscribe(watcher, "#");
        await using var device = await Gateway.ConnectDeviceAsync("esp-roles", token);
        await using var viewer = await Gateway.ConnectWithKeyAsync(viewerKey);
        await using var technician = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await using var admin = await Gateway.ConnectWithKeyAsync(adminKey);

        async Task Allowed(TestClient client, string topic)
        {
            await client.SendAsync(new { type = "publish", topic, data = new { by = topic } });
            var got = await watcher.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == topic);
            Assert.Equal(topic, got.GetProperty("data").GetProperty("by").GetString());
        }
        async Task Forbidden(TestClient client, string topic)
        {
            await client.SendAsync(new { type = "publish", topic, data = new { by = topic }, requestId = "p1" });
            var error = await client.ReceiveAsync("error");
            Assert.Equal("forbidden", error.GetProperty("code").GetString());
            Assert.Equal("p1", error.GetProperty("requestId").GetString());
        }

        await Allowed(device, "devices/esp-roles/telemetry");
        await Allowed(device, "devices/esp-roles/a/b");
        await Forbidden(device, "devices/esp-other/telemetry");
        await Forbidden(device, "devices/esp-roles");
        await Forbidden(device, "sensor_updates");
        await Forbidden(device, "system_alerts");
        await Forbidden(viewer, "system_alerts");
        await Forbidden(viewer, "devices/esp-roles/telemetry");
        await Allowed(technician, "system_alerts");
        await Allowed(technician, "devices/esp-roles/commands");
        await Allowed(admin, "anything/at/all");

        // Nothing forbidden was delivered.
        Assert.DoesNotContain(watcher.RawMessages, m => m.Contains("esp-other", StringComparison.Ordinal) || m.Contains("\"topic\":\"sensor_updates\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("a//b")]
    [InlineData("/a")]
    [InlineData("a/")]
    [InlineData("a/+/c")]
    [InlineData("a/#")]
    [InlineData("#")]
    [InlineData("")]
    public async Task Publishing_to_an_invalid_topic_is_invalid_message(string topic)
    {
        await using var technician = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await technician.SendAsync(new { type = "publish", topic, data = new { x = 1 } });
        Assert.Equal("invalid_message", (await technician.ReceiveAsync("error")).GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("a//b")]
    [InlineData("a/#/b")]
    [InlineData("a+")]
    [InlineData("a/b#")]
    public async Task Subscribing_to_an_invalid_filter_is_refused_with_invalid_message(string filter)
    {
        await using var client = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await client.SendAsync(new { type = "subscribe", topic = filter });
        var response = await client.ReceiveAsync("subscribe_response");
        Assert.False(response.GetProperty("success").GetBoolean());
        Assert.Equal("invalid_message", response.GetProperty("error").GetString());
        Assert.Equal(filter, response.GetProperty("topic").GetString());
    }

    [Fact]
    public async Task Unsubscribe_stops_delivery()
    {
        await using var publisher = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await using var subscriber = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await Subscribe(subscriber, "news/+");
        await Subscribe(subscriber, "zz-end");
        await subscriber.SendAsync(new { type = "unsubscribe", topic = "news/+" });
        var response = await subscriber.ReceiveAsync("unsubscribe_response");
        Assert.True(response.GetProperty("success").GetBoolean());
        Assert.Equal("news/+", response.GetProperty("topic").GetString());

        await publisher.SendAsync(new { type = "publish", topic = "news/today", data = 1 });
        await publisher.SendAsync(new { type = "publish", topic = "zz-end", data = 2 });
        Assert.Equal("zz-end", (await subscriber.ReceiveAsync("publish")).GetProperty("topic").GetString());
    }

    [Fact]
    public async Task The_gateway_publishes_through_the_switchboard_and_reaches_single_clients_and_client_types()
    {
        var switchboard = Gateway.Service<Switchboard>();
        var token = Gateway.AddDevice("esp-sb");
        await using var device = await Gateway.ConnectDeviceAsync("esp-sb", token);
        await using var dashboard = await Gateway.ConnectWithKeyAsync(shared.TechnicianKey);
        await Subscribe(dashboard, "announcements");

        Assert.Equal(1, switchboard.Publish("announcements", new JsonObject { ["text"] = "hello" }));
        var published = await dashboard.ReceiveAsync("publish");
        Assert.Equal("gateway", published.GetProperty("source").GetString());

        Assert.True(switchboard.SendToClient(ClientIdOf(dashboard), new JsonObject { ["type"] = "notice", ["message"] = "just you" }));
        Assert.Equal("just you", (await dashboard.ReceiveAsync("notice")).GetProperty("message").GetString());
        Assert.False(switchboard.SendToClient("c_nobody", new JsonObject { ["type"] = "notice" }));
        Assert.Throws<ArgumentException>(() => switchboard.SendToClient(ClientIdOf(dashboard), new JsonObject { ["message"] = "no type" }));

        var sent = switchboard.BroadcastToAll(new JsonObject { ["type"] = "maintenance", ["message"] = "System maintenance in 5 minutes" }, "microcontroller");
        Assert.True(sent >= 1);
        await device.ReceiveAsync("maintenance");
        Assert.True(await dashboard.NothingOfTypeAsync("maintenance", TimeSpan.FromMilliseconds(300)));
        Assert.Throws<ArgumentException>(() => switchboard.Publish("bad/+", null));
        var status = switchboard.GetStatus();
        Assert.True(status["presence"]!["online"]!.GetValue<int>() >= 1);
        Assert.NotNull(status["pubsub"]!["outbox"]!["dropped"]);
        Assert.NotNull(status["alerts"]!["active"]);
        Assert.NotNull(status["streams"]!["open"]);
    }

    internal static async Task Subscribe(TestClient client, string filter)
    {
        await client.SendAsync(new { type = "subscribe", topic = filter });
        var response = await client.ReceiveAsync("subscribe_response", where: m => m.GetProperty("topic").GetString() == filter);
        Assert.True(response.GetProperty("success").GetBoolean(), response.ToString());
    }

    /// <summary>The clientId the gateway gave this connection (from its auth_response).</summary>
    internal static string ClientIdOf(TestClient client)
    {
        lock (client.RawMessages)
        {
            var auth = JsonDocument.Parse(client.RawMessages.First(m => m.Contains("\"auth_response\"", StringComparison.Ordinal))).RootElement;
            return auth.GetProperty("clientId").GetString()!;
        }
    }
}
