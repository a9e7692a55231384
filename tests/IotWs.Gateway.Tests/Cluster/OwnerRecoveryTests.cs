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

    [OwnerClusterFact]
    public async Task The_lease_owner_fails_the_sent_calls_of_a_node_that_died_and_leaves_a_live_nodes_calls_alone()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var a = await cluster.StartNodeAsync("node-a");
        var b = await cluster.StartNodeAsync("node-b");
        var longAgo = DateTimeOffset.UtcNow.AddSeconds(-30);
        var calls = a.Service<IRpcCallStore>();
        // node-dead never restarts; node-b is alive and still waiting for its device's (slow) answer.
        calls.Insert(Sent("rpc_of_dead", "node-dead", longAgo) with { TimeoutMs = 120_000 });
        calls.Insert(Sent("rpc_of_live_b", "node-b", longAgo) with { TimeoutMs = 120_000 });

        await OwnerNodes.EventuallyAsync(() => calls.Get("rpc_of_dead")!.Status == "failed", "the owner fails the dead node's call", seconds: 10);
        Assert.Equal("gateway_restarted", calls.Get("rpc_of_dead")!.Error);
        Assert.Equal("sent", calls.Get("rpc_of_live_b")!.Status);
        await OwnerNodes.EventuallyAsync(() => a.Logs.Entries.Any(e => e.Message.Contains("Failed 1 calls that nodes no longer alive had sent", StringComparison.Ordinal)), "the owner says so");
        Assert.DoesNotContain(b.Logs.Entries, e => e.Message.Contains("no longer alive", StringComparison.Ordinal));
    }
}
