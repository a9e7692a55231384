using IotWs.Gateway.Cluster;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Storage.Postgres;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>The owner lease between two in-process gateways on one real PostgreSQL, and the work only its holder does.</summary>
[Collection(PostgresCollection.Name)]
public sealed class LeaseTests(PostgresFixture postgres)
{
    private static bool IsOwner(OwnerNodes.Node node) => node.Service<IClusterLeases>().IsOwner(ClusterWork.Alerts);

    [OwnerClusterFact]
    public async Task The_first_node_holds_the_owner_lease_and_it_moves_to_the_other_node_when_the_owner_stops()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var a = await cluster.StartNodeAsync("node-a");
        var b = await cluster.StartNodeAsync("node-b");

        Assert.True(IsOwner(a));
        // Several renewals later still only one owner.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.True(IsOwner(a));
        Assert.False(IsOwner(b));
        Assert.Equal("node-a", await cluster.ScalarAsync<string>("SELECT holder FROM leases WHERE name = 'owner'"));

        await cluster.StopAsync(a);
        await OwnerNodes.EventuallyAsync(() => IsOwner(b), "node-b takes the lease node-a gave up", seconds: 5);
        Assert.Equal("node-b", await cluster.ScalarAsync<string>("SELECT holder FROM leases WHERE name = 'owner'"));
        Assert.Contains(b.Logs.Entries, e => e.Message.Contains("Node node-b holds the owner lease", StringComparison.Ordinal));
    }

    [OwnerClusterFact]
    public async Task A_lease_whose_holder_stopped_renewing_is_taken_once_it_expires_and_not_before()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        // A node that died without giving the lease up: its row is still there, running for 3 s.
        using (var db = new PostgresDatabase(cluster.ConnectionString))
        {
            var now = DateTimeOffset.UtcNow;
            Assert.True(new PostgresLeaseStore(db).TryAcquire(ClusterLeases.LeaseName, "node-dead", now, now.AddSeconds(3)));
        }

        var b = await cluster.StartNodeAsync("node-b");
        Assert.False(IsOwner(b));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(IsOwner(b));
        await OwnerNodes.EventuallyAsync(() => IsOwner(b), "node-b takes the expired lease", seconds: 6);
        Assert.Equal("node-b", await cluster.ScalarAsync<string>("SELECT holder FROM leases WHERE name = 'owner'"));
    }

    [OwnerClusterFact]
    public async Task Only_the_owner_runs_retention_and_the_next_owner_takes_it_over()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        string[] sweepOften = ["Storage:RetentionSweepInterval=00:00:00.200", "Storage:RawRetention=1.00:00:00"];
        var a = await cluster.StartNodeAsync("node-a", sweepOften);
        var b = await cluster.StartNodeAsync("node-b", sweepOften);
        Assert.True(IsOwner(a));

        var old = DateTimeOffset.UtcNow.AddDays(-3).ToUnixTimeMilliseconds();
        async Task AddExpiredAsync(int count)
        {
            await cluster.ExecuteAsync($"INSERT INTO readings (device_id, ts, temperature, humidity) SELECT 'esp-old', {old} + i, 20, 40 FROM generate_series(1, {count}) i");
        }
        static int Sweeps(OwnerNodes.Node n) => n.Logs.Entries.Count(e => e.Category.EndsWith(nameof(global::IotWs.Gateway.Readings.ReadingRetention), StringComparison.Ordinal) && e.Message.StartsWith("Retention sweep deleted", StringComparison.Ordinal));

        await AddExpiredAsync(3);
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM readings") == 0, "the owner deletes expired readings");
        // Several sweep intervals pass: only the owner swept; the other node never did.
        await AddExpiredAsync(2);
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM readings") == 0, "the owner deletes them again");
        // The sweep logs right after its delete commits, so the count can lag the table by a moment.
        await OwnerNodes.EventuallyAsync(() => Sweeps(a) >= 2, "node-a logs both sweeps", seconds: 5);
        Assert.Equal(0, Sweeps(b));

        await cluster.StopAsync(a);
        await OwnerNodes.EventuallyAsync(() => IsOwner(b), "node-b takes the lease", seconds: 5);
        await AddExpiredAsync(2);
        await OwnerNodes.EventuallyAsync(async () => await cluster.ScalarAsync<long>("SELECT count(*) FROM readings") == 0, "the new owner sweeps");
        await OwnerNodes.EventuallyAsync(() => Sweeps(b) >= 1, "node-b logs its sweep", seconds: 5);
    }

    [Fact]
    public async Task A_single_gateway_owns_all_work_and_takes_no_lease()
    {
        await using var gateway = await TestGateway.StartAsync();
        var leases = gateway.Service<IClusterLeases>();
        Assert.Null(leases.NodeId);
        Assert.True(leases.IsOwner(ClusterWork.Alerts));
        Assert.True(leases.IsOwner(ClusterWork.Retention));
        Assert.Null(gateway.Service<ILeaseStore>().Get(ClusterLeases.LeaseName));
    }
}
