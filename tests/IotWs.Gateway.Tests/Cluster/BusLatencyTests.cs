using System.Diagnostics;
using IotWs.Gateway.Tests.Infrastructure;
using Xunit.Abstractions;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>How long a reading acknowledged on node A takes to reach a dashboard on node B (printed; bounded loosely).</summary>
[Collection(PostgresCollection.Name)]
public sealed class BusLatencyTests(PostgresFixture postgres, ITestOutputHelper output)
{
    [BusFact]
    public async Task Readings_acknowledged_on_node_a_reach_a_dashboard_on_node_b_within_a_second()
    {
        await using var cluster = await BusCluster.StartAsync(postgres, "node-a", "node-b");
        await cluster.UntilAllSeeEachOtherAsync();
        var (a, b) = (cluster.Gateways[0], cluster.Gateways[1]);
        var token = a.AddDevice("esp-latency");
        await using var dashboard = await b.ConnectWithKeyAsync(b.AddKey("viewer"));
        await BusFanoutTests.SubscribeAsync(dashboard, "devices/esp-latency/readings");
        await using var device = await a.ConnectDeviceAsync("esp-latency", token);
        var toAck = new List<double>();
        var toNodeB = new List<double>();
        for (var seq = 1; seq <= 200; seq++)
        {
            var sent = Stopwatch.GetTimestamp();
            await BusFanoutTests.SendReadingAsync(device, seq, 20 + seq % 10);
            toAck.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
            await dashboard.ReceiveAsync("publish", TimeSpan.FromSeconds(5), m => m.GetProperty("data").GetProperty("temperature").GetDouble() == 20 + seq % 10);
            toNodeB.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
        }
        output.WriteLine($"{toAck.Count} readings, one at a time. Sent -> ack on node-a: {Describe(toAck)}. Sent -> publish on node-b: {Describe(toNodeB)}.");
        toNodeB.Sort();
        Assert.True(toNodeB[toNodeB.Count / 2] < 1000, $"median {toNodeB[toNodeB.Count / 2]} ms");
    }

    private static string Describe(List<double> values)
    {
        var sorted = values.Order().ToArray();
        double P(double q) => sorted[(int)Math.Round(q * (sorted.Length - 1))];
        return $"p50 {P(0.5):F1} ms, p90 {P(0.9):F1} ms, p99 {P(0.99):F1} ms";
    }
}
