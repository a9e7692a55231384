using IotWs.Gateway.Cluster;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>A test of the cluster bus: needs PostgreSQL and Mosquitto; skipped with the reason without them, except under CI=true.</summary>
public sealed class BusFactAttribute : FactAttribute
{
    public BusFactAttribute()
    {
        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (PostgresServer.SkipReason is { } reason) Skip = reason;
        else if (!ci && !File.Exists(MosquittoBroker.BrokerPath))
            Skip = $"{MosquittoBroker.BrokerPath} is not installed (apt-get install -y mosquitto); with CI=true this test fails instead.";
    }
}

/// <summary>In-process gateways on one PostgreSQL database and one real Mosquitto, each with the cluster enabled.</summary>
internal sealed class BusCluster : IAsyncDisposable
{
    private readonly List<TestGateway> _gateways = [];

    private BusCluster(MosquittoBroker broker, string connectionString)
    {
        Broker = broker;
        ConnectionString = connectionString;
    }

    public MosquittoBroker Broker { get; }
    public string ConnectionString { get; }
    public IReadOnlyList<TestGateway> Gateways => _gateways;

    public static async Task<BusCluster> StartAsync(PostgresFixture postgres, params string[] nodeIds)
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        var broker = await MosquittoBroker.StartAsync(persistent: false);
        var cluster = new BusCluster(broker, connectionString);
        try
        {
            foreach (var id in nodeIds) await cluster.AddNodeAsync(id);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    /// <summary>The settings of a cluster node (Gateway:… without the prefix).</summary>
    public string[] Settings(string nodeId, params string[] more) =>
    [
        "Storage:Provider=Postgres",
        "Storage:ConnectionString=" + ConnectionString,
        "Storage:CommitInterval=00:00:00.020",
        "Cluster:Enabled=true",
        "Cluster:NodeId=" + nodeId,
        "Cluster:Mqtt:Host=127.0.0.1",
        "Cluster:Mqtt:Port=" + Broker.Port,
        "Cluster:HeartbeatInterval=00:00:00.200",
        "Cluster:NodeTimeout=00:00:01",
        .. more,
    ];

    public async Task<TestGateway> AddNodeAsync(string nodeId, params string[] more)
    {
        var gateway = await TestGateway.StartAsync(null, Settings(nodeId, more));
        _gateways.Add(gateway);
        return gateway;
    }

    /// <summary>Stops a node cleanly (it clears its retained heartbeat on the way out).</summary>
    public async Task StopNodeAsync(TestGateway gateway)
    {
        _gateways.Remove(gateway);
        await gateway.DisposeAsync();
    }

    public static IClusterBus Bus(TestGateway gateway) => gateway.Service<IClusterBus>();

    /// <summary>Waits until every node sees every other node alive.</summary>
    public Task UntilAllSeeEachOtherAsync() =>
        Until(() => _gateways.All(g => Bus(g).Nodes.Count(n => n.Alive) == _gateways.Count), "every node sees all the others alive");

    public static async Task Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out waiting until {what}.");
            await Task.Delay(25);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var g in _gateways.AsEnumerable().Reverse().ToArray())
        {
            try
            {
                await g.DisposeAsync();
            }
            catch (ObjectDisposedException)
            {
            }
        }
        _gateways.Clear();
        await Broker.DisposeAsync();
    }
}
