using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>Publish/subscribe between nodes: whatever is published on one node reaches subscribers on every other, once.</summary>
[Collection(PostgresCollection.Name)]
public sealed class BusFanoutTests(PostgresFixture postgres)
{
    internal static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    internal static async Task<long> SendReadingAsync(TestClient device, long seq, double temperature, long bootId = 1)
    {
        await device.SendAsync(new { type = "data", dataType = "sensor", seq, bootId, timestamp = Iso(DateTimeOffset.UtcNow), data = new { temperature, humidity = 40.5 } });
        var ack = await device.ReceiveAsync("data_response", where: m => m.TryGetProperty("seq", out var s) && s.GetInt64() == seq);
        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        return ack.GetProperty("insertId").GetInt64();
    }

    internal static async Task SubscribeAsync(TestClient client, string topic)
    {
        await client.SendAsync(new { type = "subscribe", topic });
        var response = await client.ReceiveAsync("subscribe_response", where: m => m.GetProperty("topic").GetString() == topic);
        Assert.True(response.GetProperty("success").GetBoolean(), response.ToString());
    }

    [BusFact]
    public async Task A_dashboard_on_node_b_sees_live_readings_of_a_device_on_node_a()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var token = a.AddDevice("esp-fan");
        await using var dashboard = await b.ConnectWithKeyAsync(b.AddKey("viewer"));
        await SubscribeAsync(dashboard, "sensor_updates");
        await SubscribeAsync(dashboard, "devices/esp-fan/readings");

        await using var device = await a.ConnectDeviceAsync("esp-fan", token);
        var insertId = await SendReadingAsync(device, 1, 21.5);

        var update = await dashboard.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "sensor_updates");
        var data = update.GetProperty("data");
        Assert.Equal("esp-fan", data.GetProperty("deviceId").GetString());
        Assert.Equal(21.5, data.GetProperty("temperature").GetDouble());
        Assert.Equal(insertId, data.GetProperty("insertId").GetInt64());
        var perDevice = await dashboard.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "devices/esp-fan/readings");
        Assert.Equal(insertId, perDevice.GetProperty("data").GetProperty("insertId").GetInt64());
    }

    [BusFact]
    public async Task A_publish_on_one_node_reaches_each_subscriber_on_the_other_nodes_exactly_once()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b", "node-c");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b, c) = (cluster.Gateways[0], cluster.Gateways[1], cluster.Gateways[2]);
        await using var onB = await b.ConnectWithKeyAsync(b.AddKey("viewer"));
        await using var onC = await c.ConnectWithKeyAsync(c.AddKey("viewer"));
        await SubscribeAsync(onB, "lab/#");
        await SubscribeAsync(onC, "lab/#");
        await using var publisher = await a.ConnectWithKeyAsync(a.AddKey("technician"));

        await publisher.SendAsync(new { type = "publish", topic = "lab/bench", data = new { n = 1 } });
        await publisher.SendAsync(new { type = "publish", topic = "lab/bench", data = new { n = 2 } });

        foreach (var client in new[] { onB, onC })
        {
            var first = await client.ReceiveAsync("publish");
            var second = await client.ReceiveAsync("publish");
            Assert.Equal([1, 2], new[] { first, second }.Select(m => m.GetProperty("data").GetProperty("n").GetInt32()).ToArray());
            Assert.Equal("lab/bench", first.GetProperty("topic").GetString());
            // A node that forwarded what it received would make the third node see each message twice.
            Assert.True(await client.NothingOfTypeAsync("publish", TimeSpan.FromSeconds(1)), "a publish arrived twice");
        }
    }

    [BusFact]
    public async Task Device_status_of_a_device_on_node_a_reaches_a_subscriber_on_node_b()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var token = a.AddDevice("esp-status");
        await using var dashboard = await b.ConnectWithKeyAsync(b.AddKey("viewer"));
        await SubscribeAsync(dashboard, "device_status");
        await using (await a.ConnectDeviceAsync("esp-status", token))
        {
            var online = await dashboard.ReceiveAsync("publish", where: m => m.GetProperty("data").GetProperty("status").GetString() == "online");
            Assert.Equal("esp-status", online.GetProperty("data").GetProperty("deviceId").GetString());
        }
        var offline = await dashboard.ReceiveAsync("publish", where: m => m.GetProperty("data").GetProperty("status").GetString() == "offline");
        Assert.Equal("esp-status", offline.GetProperty("data").GetProperty("deviceId").GetString());
    }

    [BusFact]
    public async Task A_reading_stored_on_node_a_updates_node_bs_latest_reading_and_raises_its_remote_reading_event()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var remote = new ConcurrentQueue<(StoredReading Reading, string Node)>();
        b.Service<GatewayEvents>().RemoteReadingStored += (r, node) => remote.Enqueue((r, node));
        var local = new ConcurrentQueue<StoredReading>();
        b.Service<GatewayEvents>().ReadingStored += local.Enqueue;
        var token = a.AddDevice("esp-latest");
        await using var device = await a.ConnectDeviceAsync("esp-latest", token, bootId: 7);
        var insertId = await SendReadingAsync(device, 1, 19.25, bootId: 7);

        await BusCluster.Until(() => !remote.IsEmpty, "node-b raises RemoteReadingStored");
        var (reading, node) = Assert.Single(remote);
        Assert.Equal("node-a", node);
        Assert.Equal((insertId, "esp-latest", 7L, 1L, 19.25), (reading.InsertId, reading.DeviceId, reading.BootId!.Value, reading.Seq!.Value, reading.Temperature));
        Assert.Empty(local);
        var latest = await b.Service<LatestReadings>().GetAsync("esp-latest", CancellationToken.None);
        Assert.Equal(insertId, latest?.InsertId);
    }

    [BusFact]
    public async Task After_a_broker_restart_publishes_cross_the_nodes_again()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        await using var onB = await b.ConnectWithKeyAsync(b.AddKey("viewer"));
        await SubscribeAsync(onB, "lab/#");
        await using var publisher = await a.ConnectWithKeyAsync(a.AddKey("technician"));

        await cluster.Broker.KillAsync();
        await cluster.Broker.RestartAsync();
        await BusCluster.Until(() => ((IotWs.Gateway.Cluster.MqttClusterBus)BusCluster.Bus(a)).IsConnected && ((IotWs.Gateway.Cluster.MqttClusterBus)BusCluster.Bus(b)).IsConnected, "both nodes reconnect");
        // Subscriptions are renewed on the new broker session: what node-a publishes reaches node-b's subscriber again.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        for (var n = 1; ; n++)
        {
            await publisher.SendAsync(new { type = "publish", topic = "lab/after", data = new { n } });
            if (!await onB.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(300))) break;
            if (DateTime.UtcNow > deadline) Assert.Fail("no publish crossed the nodes after the broker restart");
        }
    }
}
