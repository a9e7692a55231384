using IotWs.Gateway.Cluster;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>One live connection per device across nodes: a newer one anywhere closes the older with 4409.</summary>
[Collection(PostgresCollection.Name)]
public sealed class BusTakeoverTests(PostgresFixture postgres)
{
    [BusFact]
    public async Task A_device_connecting_on_node_b_closes_its_connection_on_node_a_with_4409()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var token = a.AddDevice("esp-move");
        await using var first = await a.ConnectDeviceAsync("esp-move", token);
        await BusCluster.Until(() => b.Service<IDeviceOwners>().NodeOf("esp-move") == "node-a", "node-b knows node-a holds the device");

        await using var second = await b.ConnectDeviceAsync("esp-move", token);
        Assert.Equal(4409, await first.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        await BusCluster.Until(() => a.Service<IDeviceOwners>().NodeOf("esp-move") == "node-b", "node-a knows node-b holds it now");
        Assert.Equal("node-b", b.Service<IDeviceOwners>().NodeOf("esp-move"));
        // The newer connection stays, and works.
        var insertId = await BusFanoutTests.SendReadingAsync(second, 1, 20);
        Assert.True(insertId > 0);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, second.State);
    }

    [BusFact]
    public async Task A_node_that_joins_later_learns_which_node_holds_the_devices_connected_before_it()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a");
        var a = cluster.Gateways[0];
        var token = a.AddDevice("esp-early");
        await using var device = await a.ConnectDeviceAsync("esp-early", token);
        var b = await cluster.AddNodeAsync("node-b");
        await BusCluster.Until(() => b.Service<IDeviceOwners>().NodeOf("esp-early") == "node-a", "node-b learns node-a holds the device");
        // An announcement for a newcomer closes nothing.
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, device.State);
    }

    [BusFact]
    public async Task A_device_that_disconnects_has_no_owner_on_any_node()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var token = a.AddDevice("esp-gone");
        await using (await a.ConnectDeviceAsync("esp-gone", token))
        {
            await BusCluster.Until(() => b.Service<IDeviceOwners>().NodeOf("esp-gone") == "node-a", "node-b sees the owner");
        }
        await BusCluster.Until(() => b.Service<IDeviceOwners>().NodeOf("esp-gone") is null && a.Service<IDeviceOwners>().NodeOf("esp-gone") is null, "no node holds the device");
    }
}

/// <summary>Two connections of one device at the same moment on two nodes: exactly one stays.</summary>
[Collection(PostgresCollection.Name)]
public sealed class BusTakeoverRaceTests(PostgresFixture postgres)
{
    [BusFact]
    public async Task Two_connections_of_one_device_at_once_on_two_nodes_leave_exactly_one_open()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var token = a.AddDevice("esp-race");
        for (var round = 1; round <= 5; round++)
        {
            var onA = ConnectAsync(a, token, round);
            var onB = ConnectAsync(b, token, round);
            var clients = await Task.WhenAll(onA, onB);
            try
            {
                await BusCluster.Until(() => clients.Count(c => c.State == System.Net.WebSockets.WebSocketState.Open) == 1, $"round {round}: one connection left open");
                await Task.Delay(300);
                Assert.Equal(1, clients.Count(c => c.State == System.Net.WebSockets.WebSocketState.Open));
                var closed = clients.Single(c => c.State != System.Net.WebSockets.WebSocketState.Open);
                Assert.Equal(4409, await closed.WaitClosedAsync());
                var holder = clients[0].State == System.Net.WebSockets.WebSocketState.Open ? "node-a" : "node-b";
                await BusCluster.Until(() => a.Service<IDeviceOwners>().NodeOf("esp-race") == holder && b.Service<IDeviceOwners>().NodeOf("esp-race") == holder, "both nodes agree who holds it");
            }
            finally
            {
                foreach (var c in clients) await c.DisposeAsync();
            }
            await BusCluster.Until(() => a.Service<IDeviceOwners>().NodeOf("esp-race") is null && b.Service<IDeviceOwners>().NodeOf("esp-race") is null, "nobody holds it");
        }
    }

    /// <summary>Handshake and auth without waiting for auth_response (the losing side may be closed before it).</summary>
    private static async Task<TestClient> ConnectAsync(TestGateway gateway, string token, int bootId)
    {
        var client = await gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendAsync(new { type = "handshake", clientType = "microcontroller", capabilities = new[] { "sensor_data" }, version = "1.0.0", deviceId = "esp-race", bootId, heartbeatInterval = 30000 });
        await client.SendAsync(new { type = "auth", token });
        return client;
    }
}
