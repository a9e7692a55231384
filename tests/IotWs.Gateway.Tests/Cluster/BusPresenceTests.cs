using System.Net.Http.Json;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>Presence and /api/devices are the same on every node; /api/status lists the nodes and who holds each device.</summary>
[Collection(PostgresCollection.Name)]
public sealed class BusPresenceTests(PostgresFixture postgres)
{
    private static async Task<JsonElement> DeviceAsync(HttpClient http, string deviceId)
    {
        var list = await http.GetFromJsonAsync<JsonElement>("/api/devices");
        return list.EnumerateArray().Single(d => d.GetProperty("deviceId").GetString() == deviceId);
    }

    [BusFact]
    public async Task A_device_online_on_node_a_is_online_with_its_latest_reading_in_node_bs_api_devices()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var token = a.AddDevice("esp-seen");
        var httpB = b.Http(b.AddKey("viewer"));
        Assert.Equal("offline", (await DeviceAsync(httpB, "esp-seen")).GetProperty("status").GetString());

        await using (var device = await a.ConnectDeviceAsync("esp-seen", token, bootId: 3))
        {
            var insertId = await BusFanoutTests.SendReadingAsync(device, 1, 23.5, bootId: 3);
            JsonElement seen = default;
            await WaitAsync(async () =>
            {
                seen = await DeviceAsync(httpB, "esp-seen");
                return seen.GetProperty("status").GetString() == "online" && seen.GetProperty("lastReading").ValueKind == JsonValueKind.Object
                    && seen.GetProperty("lastReading").GetProperty("insertId").GetInt64() == insertId;
            }, "node-b's /api/devices shows the device online with its reading");
            Assert.Equal(3, seen.GetProperty("bootId").GetInt64());
            var onA = await DeviceAsync(a.Http(a.AddKey("viewer")), "esp-seen");
            Assert.Equal(onA.GetProperty("statusSince").GetString(), seen.GetProperty("statusSince").GetString());
        }
        await WaitAsync(async () => (await DeviceAsync(httpB, "esp-seen")).GetProperty("status").GetString() == "offline", "node-b shows it offline after it left node-a");
    }

    [BusFact]
    public async Task Api_status_on_each_node_lists_both_nodes_and_which_node_holds_the_device()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var token = a.AddDevice("esp-where");
        await using var device = await a.ConnectDeviceAsync("esp-where", token);
        foreach (var (gateway, self) in new[] { (a, "node-a"), (b, "node-b") })
        {
            var http = gateway.Http(gateway.AddKey("viewer"));
            JsonElement cluster1 = default;
            await WaitAsync(async () =>
            {
                cluster1 = (await http.GetFromJsonAsync<JsonElement>("/api/status")).GetProperty("cluster");
                return cluster1.GetProperty("devices").TryGetProperty("esp-where", out var node) && node.GetString() == "node-a"
                    && cluster1.GetProperty("nodes").EnumerateArray().Any(n => n.GetProperty("nodeId").GetString() == "node-a" && n.GetProperty("devices").GetInt32() == 1);
            }, $"{self}'s status says node-a holds the device");
            Assert.Equal(self, cluster1.GetProperty("nodeId").GetString());
            var nodes = cluster1.GetProperty("nodes").EnumerateArray().ToArray();
            Assert.Equal(["node-a", "node-b"], nodes.Select(n => n.GetProperty("nodeId").GetString()!).ToArray());
            Assert.All(nodes, n => Assert.True(n.GetProperty("alive").GetBoolean()));
            Assert.All(nodes, n => Assert.True(DateTimeOffset.Parse(n.GetProperty("lastHeartbeat").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddSeconds(-5)));
            Assert.True(cluster1.GetProperty("bus").GetProperty("connected").GetBoolean());
        }
    }

    [BusFact]
    public async Task A_device_that_moved_to_node_b_stays_online_on_node_a_although_node_a_no_longer_hears_it()
    {
        await using var cluster = await BusCluster.StartAsync(postgres);
        var a = await cluster.AddNodeAsync("node-a", "Cluster:NodeTimeout=00:00:03");
        // node-b tells the others its devices' lastSeen once a second: slower than the device's 3 x 200 ms.
        var b = await cluster.AddNodeAsync("node-b", "Cluster:HeartbeatInterval=00:00:01", "Cluster:NodeTimeout=00:00:03");
        await cluster.UntilAllSeeEachOtherAsync();
        var token = a.AddDevice("esp-moved");
        var first = await a.ConnectDeviceAsync("esp-moved", token, heartbeatMs: 200);
        await using var second = await b.ConnectDeviceAsync("esp-moved", token, heartbeatMs: 200);
        Assert.Equal(4409, await first.WaitClosedAsync());
        await first.DisposeAsync();
        // Well past 3 heartbeat intervals of silence on node-a; node-b hears the device all along and judges it alone.
        var offlineOnA = false;
        a.Service<IotWs.Gateway.Connections.GatewayEvents>().PresenceChanged += c => offlineOnA |= c.DeviceId == "esp-moved" && c.Status != "online";
        for (var i = 0; i < 15; i++)
        {
            await second.SendAsync(new { type = "heartbeat" });
            await Task.Delay(150);
        }
        Assert.False(offlineOnA, "node-a judged a device it does not hold");
        var httpA = a.Http(a.AddKey("viewer"));
        Assert.Equal("online", (await DeviceAsync(httpA, "esp-moved")).GetProperty("status").GetString());
        Assert.Equal("online", (await DeviceAsync(b.Http(b.AddKey("viewer")), "esp-moved")).GetProperty("status").GetString());
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out waiting until {what}.");
            await Task.Delay(50);
        }
    }
}
