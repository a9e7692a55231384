using System.Collections.Concurrent;
using IotWs.Gateway.Cluster;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>Membership on a real Mosquitto: heartbeats, the will, a clean stop, a broker restart.</summary>
[Collection(PostgresCollection.Name)]
public sealed class BusMembershipTests(PostgresFixture postgres)
{
    [BusFact]
    public async Task Two_gateways_on_one_broker_see_each_other_alive()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var a = BusCluster.Bus(cluster.Gateways[0]);
        Assert.True(a.IsEnabled);
        Assert.Equal("node-a", a.NodeId);
        Assert.Equal(["node-a", "node-b"], a.Nodes.Select(n => n.NodeId).Order().ToArray());
    }

    [BusFact]
    public async Task A_node_that_stops_cleanly_is_reported_left_at_once()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var a = BusCluster.Bus(cluster.Gateways[0]);
        var left = new ConcurrentQueue<ClusterNode>();
        a.NodeLeft += left.Enqueue;
        var stopped = DateTime.UtcNow;
        await cluster.StopNodeAsync(cluster.Gateways[1]);
        await BusCluster.Until(() => left.Any(n => n.NodeId == "node-b"), "node-a reports node-b left");
        // The empty retained heartbeat says so at once, well before the 1 s node timeout of these tests.
        Assert.True(DateTime.UtcNow - stopped < TimeSpan.FromSeconds(5));
        Assert.DoesNotContain(a.Nodes, n => n.NodeId == "node-b");
        Assert.Single(left);
    }

    [BusFact]
    public async Task A_node_that_goes_silent_is_reported_left_after_the_node_timeout()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a");
        var a = BusCluster.Bus(cluster.Gateways[0]);
        var left = new ConcurrentQueue<ClusterNode>();
        a.NodeLeft += left.Enqueue;
        // A node that died without a will reaching anyone: one heartbeat from an independent client, then silence.
        await using var ghost = await GhostNode.ConnectAsync(cluster.Broker.Port, "node-ghost");
        await ghost.HeartbeatAsync();
        await BusCluster.Until(() => a.Nodes.Any(n => n is { NodeId: "node-ghost", Alive: true }), "node-a sees the ghost alive");
        await BusCluster.Until(() => left.Any(n => n.NodeId == "node-ghost"), "node-a reports the ghost left", TimeSpan.FromSeconds(5));
        Assert.Contains(a.Nodes, n => n is { NodeId: "node-ghost", Alive: false });
        // The same node heard again is alive again.
        await ghost.HeartbeatAsync();
        await BusCluster.Until(() => a.Nodes.Any(n => n is { NodeId: "node-ghost", Alive: true }), "the ghost is alive again");
        Assert.Single(left);
    }

    [BusFact]
    public async Task A_killed_node_is_reported_left_through_its_will()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a");
        var a = BusCluster.Bus(cluster.Gateways[0]);
        var left = new ConcurrentQueue<ClusterNode>();
        a.NodeLeft += left.Enqueue;
        // A bus whose TCP connection is cut without DISCONNECT: the broker publishes its will (empty retained heartbeat).
        var ghost = await GhostNode.ConnectAsync(cluster.Broker.Port, "node-killed", withWill: true);
        await ghost.HeartbeatAsync();
        await BusCluster.Until(() => a.Nodes.Any(n => n is { NodeId: "node-killed", Alive: true }), "node-a sees the node alive");
        ghost.CutConnection();
        await BusCluster.Until(() => left.Any(n => n.NodeId == "node-killed"), "node-a reports the killed node left");
        Assert.DoesNotContain(a.Nodes, n => n.NodeId == "node-killed");
    }

    [BusFact]
    public async Task After_a_broker_restart_the_nodes_find_each_other_again_and_nobody_is_declared_dead_meanwhile()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var left = new ConcurrentQueue<ClusterNode>();
        BusCluster.Bus(cluster.Gateways[0]).NodeLeft += left.Enqueue;
        await cluster.Broker.KillAsync();
        // Longer than the node timeout: a node that cannot reach the broker cannot tell who died, so it says nothing.
        await Task.Delay(TimeSpan.FromSeconds(2));
        await cluster.Broker.RestartAsync();
        var mqtt = (MqttClusterBus)BusCluster.Bus(cluster.Gateways[0]);
        await BusCluster.Until(() => mqtt.IsConnected, "node-a reconnects");
        // The broker lost every retained heartbeat (no persistence): the next ones restore the membership.
        await BusCluster.Until(() => BusCluster.Bus(cluster.Gateways[1]).Nodes.Any(n => n is { NodeId: "node-a", Alive: true }) && mqtt.Nodes.Any(n => n is { NodeId: "node-b", Alive: true }), "both see each other again");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Empty(left);
    }
    [BusFact]
    public async Task A_node_whose_link_to_the_broker_broke_silently_declares_nobody_dead_but_still_notices_a_real_death()
    {
        await using var cluster = await BusCluster.StartAsync(postgres);
        // node-a reaches the broker through a relay the test can freeze; node-b (a ghost) reaches it directly.
        await using var relay = new FreezableTcpRelay(cluster.Broker.Port);
        var a = (MqttClusterBus)BusCluster.Bus(await cluster.AddNodeAsync("node-a", "Cluster:Mqtt:Port=" + relay.Port));
        var left = new ConcurrentQueue<ClusterNode>();
        a.NodeLeft += left.Enqueue;
        await using var b = await GhostNode.ConnectAsync(cluster.Broker.Port, "node-b");
        using var beating = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            while (!beating.IsCancellationRequested)
            {
                await b.HeartbeatAsync();
                await Task.Delay(200);
            }
        });
        await BusCluster.Until(() => a.Nodes.Any(n => n is { NodeId: "node-b", Alive: true }), "node-a sees node-b alive");
        // Past the grace node-a gives everyone after it connected: from here on silence counts.
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        // node-b beats on; node-a hears nothing for three node timeouts, its connection still open: it must not
        // take node-b for dead (as owner it would take node-b's devices offline and fail its calls).
        relay.Freeze();
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Empty(left);
        relay.Thaw();
        await BusCluster.Until(() => a.IsConnected && a.Nodes.Any(n => n is { NodeId: "node-b", Alive: true }), "node-a hears node-b again", TimeSpan.FromSeconds(20));
        Assert.Empty(left);

        // A node-b that really falls silent is still declared dead once the broker answers node-a's ping.
        await beating.CancelAsync();
        await heartbeats;
        await BusCluster.Until(() => left.Any(n => n.NodeId == "node-b"), "node-a reports node-b left", TimeSpan.FromSeconds(10));
    }
}
