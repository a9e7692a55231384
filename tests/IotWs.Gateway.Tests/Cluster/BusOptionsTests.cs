using IotWs.Gateway.Cli;
using IotWs.Gateway.Cluster;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Mqtt.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>Gateway:Cluster settings: refused combinations are one line and exit 1; a single Pi talks to no broker.</summary>
public sealed class BusOptionsTests
{
    private static (int Exit, string Error) Serve(params string[] settings)
    {
        var dir = TestGateway.NewDataDir();
        try
        {
            var error = new StringWriter();
            var exit = GatewayCli.Run(["serve", "--urls", "http://127.0.0.1:0", "--data-dir", dir, .. settings], TextWriter.Null, error);
            return (exit, error.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void AssertOneLine(string error, string expected)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"one line expected, got: {error}");
        Assert.StartsWith("Configuration error:", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public void A_cluster_on_sqlite_is_refused_with_one_line_and_exit_1()
    {
        var (exit, error) = Serve("--Gateway:Cluster:Enabled=true", "--Gateway:Cluster:Mqtt:Host=127.0.0.1");
        Assert.Equal(1, exit);
        AssertOneLine(error, "Gateway:Cluster:Enabled needs Gateway:Storage:Provider=Postgres");
    }

    [Fact]
    public void A_cluster_without_a_broker_is_refused_with_one_line_and_exit_1()
    {
        var (exit, error) = Serve("--Gateway:Cluster:Enabled=true", "--Gateway:Storage:Provider=Postgres", "--Gateway:Storage:ConnectionString=Host=127.0.0.1;Port=1;Database=x");
        Assert.Equal(1, exit);
        AssertOneLine(error, "Gateway:Cluster:Mqtt:Host is required");
    }

    [Fact]
    public void A_node_timeout_shorter_than_two_heartbeats_is_refused()
    {
        var (exit, error) = Serve("--Gateway:Cluster:Enabled=true", "--Gateway:Storage:Provider=Postgres", "--Gateway:Storage:ConnectionString=Host=127.0.0.1;Port=1;Database=x",
            "--Gateway:Cluster:Mqtt:Host=127.0.0.1", "--Gateway:Cluster:HeartbeatInterval=00:00:05", "--Gateway:Cluster:NodeTimeout=00:00:06");
        Assert.Equal(1, exit);
        AssertOneLine(error, "Gateway:Cluster:NodeTimeout must be at least twice");
    }

    [Fact]
    public void The_node_id_defaults_to_host_name_and_port()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["urls"] = "http://0.0.0.0:5081;http://[::]:5082" }).Build();
        Assert.EndsWith(":5081", ClusterNodeId.Resolve(new ClusterOptions(), config));
        Assert.Equal("given", ClusterNodeId.Resolve(new ClusterOptions { NodeId = "given" }, config));
    }

    [MosquittoFact]
    public async Task A_single_pi_keeps_the_cluster_off_and_opens_no_broker_connection()
    {
        await using var broker = await MosquittoBroker.StartAsync(persistent: false);
        // Only the broker's address is given: without Enabled nothing may connect to it.
        await using var gateway = await TestGateway.StartAsync(null, "Cluster:Mqtt:Host=127.0.0.1", "Cluster:Mqtt:Port=" + broker.Port);
        var bus = gateway.Service<IClusterBus>();
        Assert.False(bus.IsEnabled);
        Assert.IsType<DisabledClusterBus>(bus);
        Assert.Single(bus.Nodes);
        await bus.PublishAsync("pubsub/x", new byte[] { 1 });
        var status = await gateway.Http(gateway.AddKey("viewer")).GetStringAsync("/api/status");
        Assert.DoesNotContain("\"cluster\"", status);
        await Task.Delay(500);
        Assert.DoesNotContain("New client connected", broker.ReadLog());
    }
}
