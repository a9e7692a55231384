using IotWs.Gateway.Storage;
using IotWs.Gateway.Storage.Postgres;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>Calls in flight when a node stops: each node fails only its own at start; a dead node's are failed by the lease owner.</summary>
[Collection(PostgresCollection.Name)]
public sealed class OwnerRecoveryTests(PostgresFixture postgres)
{
    private static RpcCallRow Sent(string id, string? node, DateTimeOffset at) => new()
    {
        Id = id, DeviceId = "esp-" + id, Endpoint = "ping", DataJson = "{}", Status = "sent", Caller = "ops", Role = "technician",
        CreatedAt = at, UpdatedAt = at, SentAt = at, TimeoutMs = 5000, Node = node, History = [new RpcStatusRow("sent", at)],
    };

    [OwnerClusterFact]
    public async Task RecoverInterrupted_on_a_restarting_node_fails_its_own_sent_calls_and_leaves_the_other_nodes_alone()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var at = DateTimeOffset.UtcNow;
        using (var db = new PostgresDatabase(cluster.ConnectionString))
        {
            var store = new PostgresRpcCallStore(db);
            store.Insert(Sent("rpc_of_a", "node-a", at));
            store.Insert(Sent("rpc_of_b", "node-b", at));
            // Sent by a single gateway before the cluster existed: nobody can answer it now.
            store.Insert(Sent("rpc_unnamed", null, at));
        }

        // node-b restarts while node-a is (as far as the database knows) still waiting for its device's answer.
        var b = await cluster.StartNodeAsync("node-b");
        var calls = b.Service<IRpcCallStore>();
        Assert.Equal("failed", calls.Get("rpc_of_b")!.Status);
        Assert.Equal("gateway_restarted", calls.Get("rpc_of_b")!.Error);
        Assert.Equal("failed", calls.Get("rpc_unnamed")!.Status);
        Assert.Equal("sent", calls.Get("rpc_of_a")!.Status);
        Assert.Equal(["rpc_of_a"], calls.SentIdsOf("node-a"));
    }
}
