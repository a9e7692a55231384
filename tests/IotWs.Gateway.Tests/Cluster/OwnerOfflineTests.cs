using System.Text.Json;
using IotWs.Gateway.Cluster;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>A node that dies holding devices: the lease owner takes them offline once, with a presence change and its alert.</summary>
[Collection(PostgresCollection.Name)]
public sealed class OwnerOfflineTests(PostgresFixture postgres)
{
    [OwnerClusterFact]
    public async Task The_owner_marks_the_devices_of_a_node_that_died_offline_once_and_raises_their_offline_alert()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        string[] offlineRule = ["Alerts:OfflineGrace=00:00:00", "Alerts:Rules:0:Name=gone", "Alerts:Rules:0:Metric=offline", "Alerts:Rules:0:Duration=00:00:00"];
        var a = await cluster.StartNodeAsync("node-a", offlineRule);
        var b = await cluster.StartNodeAsync("node-b", offlineRule);
        a.Gateway.AddDevice("esp-g");

        // A node the test controls completely, holding esp-g; it dies by losing its connection (its will says it is gone).
        await using var ghost = await GhostNode.ConnectAsync(cluster.Broker.Port, "node-ghost", withWill: true);
        await ghost.HeartbeatAsync(devices: 1);
        var now = DateTimeOffset.UtcNow;
        await ghost.PublishAsync("devices/esp-g/owner", JsonSerializer.SerializeToUtf8Bytes(new { nodeId = "node-ghost", clientId = "c-ghost-1", at = now }));
        await ghost.PublishAsync("pubsub/node-ghost", JsonSerializer.SerializeToUtf8Bytes(new
        {
            kind = "presence",
            devices = new[] { new { deviceId = "esp-g", status = "online", reason = "connected", statusSince = now.ToString("O"), lastSeen = now.ToString("O"), heartbeatIntervalMs = 30000 } },
        }));
        foreach (var node in new[] { a, b })
        {
            await OwnerNodes.EventuallyAsync(() => node.Service<IDeviceOwners>().NodeOf("esp-g") == "node-ghost", $"{node.NodeId} sees esp-g on node-ghost");
            await OwnerNodes.EventuallyAsync(() => node.Service<PresenceTracker>().Get("esp-g").Status == "online", $"{node.NodeId} sees esp-g online");
        }

        ghost.CutConnection();

        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM presence_history WHERE device_id = 'esp-g' AND status = 'offline'") == 1, "one offline change for esp-g");
        Assert.Equal("node node-ghost stopped", await cluster.ScalarAsync<string>("SELECT reason FROM presence_history WHERE device_id = 'esp-g' AND status = 'offline'"));
        Assert.Equal("offline", await cluster.ScalarAsync<string>("SELECT status FROM presence_state WHERE device_id = 'esp-g'"));
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM alerts WHERE device_id = 'esp-g' AND rule = 'gone'") == 1, "one offline alert");
        // The other node hears of it too, and neither writes a second change nor raises a second alert.
        await OwnerNodes.EventuallyAsync(() => b.Service<PresenceTracker>().Get("esp-g").Status == "offline", "node-b sees esp-g offline");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(1L, await cluster.ScalarAsync<long>("SELECT count(*) FROM presence_history WHERE device_id = 'esp-g' AND status = 'offline'"));
        Assert.Equal(1L, await cluster.ScalarAsync<long>("SELECT count(*) FROM alerts WHERE device_id = 'esp-g'"));
        Assert.Contains(a.Logs.Entries, e => e.Message.Contains("Node node-ghost left the cluster holding 1 devices", StringComparison.Ordinal));
        Assert.DoesNotContain(b.Logs.Entries, e => e.Message.Contains("left the cluster holding", StringComparison.Ordinal));
    }
}
