using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Mqtt.Tests.Infrastructure;
using Npgsql;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>
/// Gateways in one test process as nodes of one cluster: a new database on the collection's real PostgreSQL and a
/// real Mosquitto carrying the cluster bus. Each node is a whole in-process gateway (real Kestrel) with captured logs.
/// </summary>
internal sealed class OwnerNodes : IAsyncDisposable
{
    // Short, so ownership moves within a test's patience; the ratio is the product's (renew 3 times per lease).
    public const string Heartbeat = "00:00:00.300";
    public const string NodeTimeout = "00:00:01";

    private readonly List<Node> _nodes = [];

    private OwnerNodes(string connectionString, MosquittoBroker broker)
    {
        ConnectionString = connectionString;
        Broker = broker;
    }

    public string ConnectionString { get; }
    public MosquittoBroker Broker { get; }

    /// <summary>One node: its gateway and what it logged.</summary>
    public sealed record Node(string NodeId, TestGateway Gateway, CapturedLogs Logs)
    {
        public T Service<T>() where T : notnull => Gateway.Service<T>();
    }

    public static async Task<OwnerNodes> StartAsync(PostgresFixture postgres) =>
        new(await postgres.Server.CreateDatabaseAsync(), await MosquittoBroker.StartAsync(persistent: false));

    /// <summary>The settings every node shares: the database, the broker and short cluster timings.</summary>
    public string[] Settings(string nodeId, params string[] more) =>
    [
        "Storage:Provider=Postgres", "Storage:ConnectionString=" + ConnectionString, "Storage:CommitInterval=00:00:00.020",
        "Cluster:Enabled=true", "Cluster:NodeId=" + nodeId, "Cluster:HeartbeatInterval=" + Heartbeat, "Cluster:NodeTimeout=" + NodeTimeout,
        "Cluster:Mqtt:Host=127.0.0.1", "Cluster:Mqtt:Port=" + Broker.Port,
        .. more,
    ];

    public Task<Node> StartNodeAsync(string nodeId, params string[] more) => StartNodeAsync(nodeId, null, more);

    /// <summary>Starts a node with a hook on its builder (e.g. to wrap one of its stores).</summary>
    public async Task<Node> StartNodeAsync(string nodeId, Action<WebApplicationBuilder>? configure, params string[] more)
    {
        var logs = new CapturedLogs();
        var gateway = await TestGateway.StartAsync(null, b =>
        {
            logs.AddTo(b);
            configure?.Invoke(b);
        }, Settings(nodeId, more));
        var node = new Node(nodeId, gateway, logs);
        lock (_nodes) _nodes.Add(node);
        return node;
    }

    /// <summary>Stops a node cleanly (it gives its lease up and leaves the cluster).</summary>
    public async Task StopAsync(Node node)
    {
        lock (_nodes) _nodes.Remove(node);
        await node.Gateway.DisposeAsync();
    }

    public async Task<T?> ScalarAsync<T>(string sql)
    {
        await using var c = new NpgsqlConnection(ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return await cmd.ExecuteScalarAsync() is T v ? v : default;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var c = new NpgsqlConnection(ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Waits until the condition holds; fails with <paramref name="what"/> after the timeout.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what, double seconds = 10)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"Not within {seconds} s: {what}");
            await Task.Delay(50);
        }
    }

    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, double seconds = 10)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"Not within {seconds} s: {what}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Node[] nodes;
        lock (_nodes) nodes = [.. _nodes];
        foreach (var node in nodes) await node.Gateway.DisposeAsync();
        await Broker.DisposeAsync();
    }
}

/// <summary>A test of cluster nodes: needs PostgreSQL and Mosquitto; skipped with the reason where either is missing, except under CI=true.</summary>
public sealed class OwnerClusterFactAttribute : FactAttribute
{
    public OwnerClusterFactAttribute()
    {
        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (PostgresServer.SkipReason is { } reason) Skip = reason;
        else if (!File.Exists(MosquittoBroker.BrokerPath) && !ci)
            Skip = $"{MosquittoBroker.BrokerPath} is not installed (apt-get install -y mosquitto); with CI=true this test fails instead.";
    }
}
