using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>Alerts in a cluster of two in-process nodes: the lease owner judges every node's readings, so an alert is raised once.</summary>
[Collection(PostgresCollection.Name)]
public sealed class OwnerAlertTests(PostgresFixture postgres)
{
    private static readonly string[] HotRule =
    [
        "Alerts:Rules:0:Name=hot", "Alerts:Rules:0:Metric=temperature", "Alerts:Rules:0:Comparison=above",
        "Alerts:Rules:0:Threshold=30", "Alerts:Rules:0:Duration=00:00:00", "Alerts:Rules:0:Hysteresis=1",
    ];

    /// <summary>The alerts this node raised, by device.</summary>
    private static string[] Raised(OwnerNodes.Node node) =>
        [.. node.Logs.Entries
            .Where(e => e.Category.EndsWith("AlertEvaluator", StringComparison.Ordinal) && e.Message.Contains("raised by rule hot", StringComparison.Ordinal))
            .Select(e => e.Message.Contains("esp-on-a", StringComparison.Ordinal) ? "esp-on-a" : "esp-on-b")];

    [OwnerClusterFact]
    public async Task A_reading_over_the_threshold_on_either_node_raises_one_alert_not_one_per_node()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var a = await cluster.StartNodeAsync("node-a", HotRule);
        var b = await cluster.StartNodeAsync("node-b", HotRule);
        var tokenB = b.Gateway.AddDevice("esp-on-b");
        var tokenA = a.Gateway.AddDevice("esp-on-a");

        // The device is on node-b, which does not hold the lease: node-a judges the reading it hears over the bus.
        await using (var device = await b.Gateway.ConnectDeviceAsync("esp-on-b", tokenB, bootId: 1))
        {
            await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 1, data = new { temperature = 35, humidity = 40 } });
            Assert.True((await device.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());
        }
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM alerts WHERE device_id = 'esp-on-b'") == 1, "one alert for esp-on-b");

        await using (var device = await a.Gateway.ConnectDeviceAsync("esp-on-a", tokenA, bootId: 1))
        {
            await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 1, data = new { temperature = 36, humidity = 40 } });
            Assert.True((await device.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());
        }
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM alerts WHERE device_id = 'esp-on-a'") == 1, "one alert for esp-on-a");

        // Long enough for a second evaluator to have raised its own: still one per device, all from the owner.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(2L, await cluster.ScalarAsync<long>("SELECT count(*) FROM alerts"));
        // Each alert was raised by exactly one node: the lease holder. Which node that is may change under a loaded
        // machine (a renewal stalled past NodeTimeout hands the lease over), so the test asks "once", not "by node-a".
        Assert.Equal(["esp-on-a", "esp-on-b"], Raised(a).Concat(Raised(b)).Order(StringComparer.Ordinal));
        // Either node lists the same alerts (they are in the shared database).
        var listed = JsonDocument.Parse(await b.Gateway.Http(b.Gateway.AddKey("viewer")).GetStringAsync("/api/alerts?state=active")).RootElement;
        Assert.Equal(["esp-on-a", "esp-on-b"], listed.EnumerateArray().Select(x => x.GetProperty("deviceId").GetString()).Order(StringComparer.Ordinal));
        foreach (var node in new[] { a, b })
        {
            await OwnerNodes.EventuallyAsync(async () =>
            {
                var status = JsonDocument.Parse(await node.Gateway.Http(node.Gateway.AddKey("viewer")).GetStringAsync("/api/status")).RootElement;
                return status.GetProperty("alerts").GetProperty("active").GetInt32() == 2;
            }, $"/api/status on {node.NodeId} counts the 2 active alerts");
        }
    }

    [OwnerClusterFact]
    public async Task The_node_that_takes_the_lease_over_clears_the_alert_the_old_owner_raised_instead_of_raising_it_again()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var a = await cluster.StartNodeAsync("node-a", HotRule);
        var b = await cluster.StartNodeAsync("node-b", HotRule);
        var token = b.Gateway.AddDevice("esp-1");
        await using var device = await b.Gateway.ConnectDeviceAsync("esp-1", token, bootId: 1);
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 1, data = new { temperature = 35, humidity = 40 } });
        await device.ReceiveAsync("data_response");
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM alerts WHERE state = 'active'") == 1, "node-a raises the alert");

        await cluster.StopAsync(a);
        await OwnerNodes.EventuallyAsync(() => b.Service<IotWs.Gateway.Cluster.IClusterLeases>().IsOwner(IotWs.Gateway.Cluster.ClusterWork.Alerts), "node-b takes the lease");
        // Still hot: the alert node-a raised stays the one alert. Then back to normal: node-b clears that same alert.
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 2, bootId = 1, data = new { temperature = 36, humidity = 40 } });
        await device.ReceiveAsync("data_response");
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 3, bootId = 1, data = new { temperature = 20, humidity = 40 } });
        await device.ReceiveAsync("data_response");
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM alerts WHERE state = 'cleared'") == 1, "node-b clears node-a's alert");
        Assert.Equal(1L, await cluster.ScalarAsync<long>("SELECT count(*) FROM alerts"));
    }
}
