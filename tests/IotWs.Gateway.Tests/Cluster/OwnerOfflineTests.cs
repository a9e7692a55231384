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

    [OwnerClusterFact]
    public async Task After_every_node_restarted_a_device_shown_online_that_no_node_holds_goes_offline_once()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var a = await cluster.StartNodeAsync("node-a");
        var token = a.Gateway.AddDevice("esp-r");
        var quiet = a.Gateway.AddDevice("esp-q");
        await using var gone = await a.Gateway.ConnectDeviceAsync("esp-r", token, heartbeatMs: 1000);
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<string>("SELECT status FROM presence_state WHERE device_id = 'esp-r'") == "online", "esp-r written online");
        // The whole cluster stops at once (an upgrade, a power cut): a gateway that stops leaves its devices as they
        // were, for the restarted gateway to judge. Nothing holds esp-r now, and no node sees it connect again.
        await cluster.StopAsync(a);
        gone.Abort();
        Assert.Equal("online", await cluster.ScalarAsync<string>("SELECT status FROM presence_state WHERE device_id = 'esp-r'"));

        var a2 = await cluster.StartNodeAsync("node-a");
        var b = await cluster.StartNodeAsync("node-b");
        Assert.Equal("online", a2.Service<PresenceTracker>().Get("esp-r").Status);

        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<string>("SELECT status FROM presence_state WHERE device_id = 'esp-r'") == "offline", "esp-r offline", seconds: 15);
        Assert.Equal(PresenceReasons.NotHeld, await cluster.ScalarAsync<string>("SELECT reason FROM presence_history WHERE device_id = 'esp-r' AND status = 'offline'"));
        await OwnerNodes.EventuallyAsync(() => a2.Service<PresenceTracker>().Get("esp-r").Status == "offline" && b.Service<PresenceTracker>().Get("esp-r").Status == "offline", "both nodes show esp-r offline");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(1L, await cluster.ScalarAsync<long>("SELECT count(*) FROM presence_history WHERE device_id = 'esp-r' AND status = 'offline'"));
        // A device connected to the other node, alive through its heartbeats, is not touched: its holder shares its lastSeen.
        await using var live = await b.Gateway.ConnectDeviceAsync("esp-q", quiet, heartbeatMs: 1000);
        for (var i = 0; i < 8; i++)
        {
            await live.SendAsync(new { type = "heartbeat" });
            await Task.Delay(500);
        }
        Assert.Equal("online", a2.Service<PresenceTracker>().Get("esp-q").Status);
        Assert.Equal(0L, await cluster.ScalarAsync<long>("SELECT count(*) FROM presence_history WHERE device_id = 'esp-q' AND status = 'offline'"));
    }

    [OwnerClusterFact]
    public async Task A_node_told_a_device_it_holds_is_offline_says_again_that_it_is_online()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var a = await cluster.StartNodeAsync("node-a");
        var b = await cluster.StartNodeAsync("node-b");
        var token = b.Gateway.AddDevice("esp-h");
        // The ghost joins first: a node that joins makes every node share its devices again, which would hide the bug.
        await using var ghost = await GhostNode.ConnectAsync(cluster.Broker.Port, "node-ghost", withWill: false);
        await ghost.HeartbeatAsync(devices: 0);
        await OwnerNodes.EventuallyAsync(() => b.Service<IotWs.Gateway.Cluster.IClusterBus>().Nodes.Any(n => n.NodeId == "node-ghost" && n.Alive), "node-b hears node-ghost");
        await Task.Delay(500);
        await using var device = await b.Gateway.ConnectDeviceAsync("esp-h", token);
        await OwnerNodes.EventuallyAsync(() => a.Service<PresenceTracker>().Get("esp-h").Status == "online", "node-a sees esp-h online");

        var heard = new System.Collections.Concurrent.ConcurrentQueue<(string Status, string Node)>();
        a.Service<IotWs.Gateway.Connections.GatewayEvents>().RemotePresenceChanged += (change, node) => { if (change.DeviceId == "esp-h") heard.Enqueue((change.Status, node)); };

        // A wrong view on the bus (a node whose owner message for esp-h was lost, say) takes it offline on node-a.
        var now = DateTimeOffset.UtcNow;
        await ghost.PublishAsync("pubsub/node-ghost", JsonSerializer.SerializeToUtf8Bytes(new
        {
            kind = "presence",
            devices = new[] { new { deviceId = "esp-h", status = "offline", reason = "no gateway holds it", statusSince = now.ToString("O"), lastSeen = now.ToString("O"), heartbeatIntervalMs = 30000 } },
        }));

        // node-b holds the connection: it ignores that view and shares its own, so node-a shows the truth again.
        await OwnerNodes.EventuallyAsync(() => heard.Count >= 2, "node-a hears the wrong view, then node-b's");
        Assert.Equal([("offline", "node-ghost"), ("online", "node-b")], heard.Take(2).ToArray());
        Assert.Equal("online", a.Service<PresenceTracker>().Get("esp-h").Status);
        Assert.Equal("online", b.Service<PresenceTracker>().Get("esp-h").Status);
    }
}
