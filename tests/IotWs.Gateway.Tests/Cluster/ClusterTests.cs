using System.Net.Http.Json;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using Xunit.Abstractions;
using static IotWs.Gateway.Tests.Cluster.BusFanoutTests;
using static IotWs.Gateway.Tests.Rpc.RpcSteps;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>
/// The cluster promises of the contract ("Growing past one Pi"), checked on real processes: three gateways on one
/// PostgreSQL and one Mosquitto, haproxy in front, devices and dashboards on real WebSockets.
/// </summary>
public sealed class ClusterTests(ClusterFixture cluster, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    [ClusterFact]
    public async Task A_node_killed_with_SIGKILL_mid_stream_loses_no_acked_reading_and_its_devices_replay_on_another_node_stored_exactly_once()
    {
        const long bootId = 7;
        // haproxy sends every connection to the first healthy node ("balance first"): that node holds all four devices.
        var holder = cluster.Nodes[0];
        var devices = ClusterFixture.DeviceIds.Where(id => id.StartsWith("stream-", StringComparison.Ordinal))
            .Select(id => new StreamingDevice(id, cluster.Token(id), bootId, [cluster.Proxy.WsUri])).ToArray();
        using var stop = new CancellationTokenSource();
        var runs = devices.Select(d => Task.Run(() => d.RunAsync(TimeSpan.FromSeconds(45), stop.Token))).ToArray();
        try
        {
            await Until(() => devices.Sum(d => d.Acked.Count) >= 400, "400 readings acknowledged by the first node");
            // Kill while every window is full: readings are in flight, some committed but not yet acknowledged.
            await Until(() => devices.Sum(d => d.Unacked) >= 64, "readings in flight");
            holder.Kill();
            var ackedBeforeKill = devices.Sum(d => d.Acked.Count);
            var sentBeforeKill = devices.Sum(d => d.Sent);

            await Until(() => devices.All(d => d.Links >= 2 && d.AckedOnLink >= 50), "every device acknowledged again on another node");
            stop.Cancel();
            await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(45));
            output.WriteLine($"killed {holder} with {sentBeforeKill} readings sent and {ackedBeforeKill} acknowledged; {devices.Sum(d => d.Sent)} sent in all");

            Assert.All(devices, d => Assert.Empty(d.Problems));
            Assert.True(sentBeforeKill > ackedBeforeKill, "the kill should land while readings are in flight");

            // Every reading a device took is stored once (it replayed what was not acked), and every ack named its row.
            var rows = await cluster.QueryAsync($"SELECT device_id, seq, count(*), min(id) FROM readings WHERE boot_id = {bootId} AND device_id LIKE 'stream-%' GROUP BY device_id, seq");
            Assert.All(rows, r => Assert.True((long)r[2] == 1, $"{r[0]} seq {r[1]} is stored {r[2]} times"));
            foreach (var device in devices)
            {
                var stored = rows.Where(r => (string)r[0] == device.DeviceId).ToDictionary(r => (long)r[1], r => (long)r[3]);
                Assert.Equal(Enumerable.Range(1, (int)device.Sent).Select(i => (long)i), stored.Keys.Order());
                foreach (var (seq, insertId) in device.Acked)
                {
                    Assert.True(stored[seq] == insertId, $"{device.DeviceId} seq {seq} was acked as insert {insertId}, stored as {stored[seq]}");
                }
            }
        }
        catch (Exception e) when (e is TimeoutException or Xunit.Sdk.XunitException)
        {
            foreach (var d in devices) output.WriteLine($"{d.DeviceId}: {d.Links} links, {d.Sent} sent, {d.Acked.Count} acked, {d.AckedOnLink} on this link, {d.Unacked} unacked; {string.Join("; ", d.Problems)}");
            output.WriteLine(cluster.Logs());
            throw;
        }
        finally
        {
            await stop.CancelAsync();
            // The other tests find the cluster whole: the killed node comes back on its port, as systemd would restart it.
            await holder.StartAsync();
        }
    }

    // The tests below talk to named nodes directly, as a client behind DNS round robin would: A, B and C are
    // Nodes[0..2]. Each first waits until every node sees all three alive (the SIGKILL test restarts one).

    [ClusterFact]
    public async Task A_device_on_node_a_is_seen_live_on_node_b_by_a_dashboard_and_by_the_device_list()
    {
        var (a, b) = await WholeAsync();
        await using var dashboard = await TestClient.ConnectWithKeyAsync(b.WsUri, cluster.ViewerKey);
        await SubscribeAsync(dashboard, "devices/live-1/readings");
        await SubscribeAsync(dashboard, "device_status");

        await using var device = await TestClient.ConnectDeviceAsync(a.WsUri, "live-1", cluster.Token("live-1"), bootId: 3);
        var online = await dashboard.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "device_status" && m.GetProperty("data").GetProperty("deviceId").GetString() == "live-1");
        Assert.Equal("online", online.GetProperty("data").GetProperty("status").GetString());
        var insertId = await SendReadingAsync(device, 1, 23.25, bootId: 3);

        var reading = await dashboard.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "devices/live-1/readings");
        Assert.Equal(insertId, reading.GetProperty("data").GetProperty("insertId").GetInt64());
        Assert.Equal(23.25, reading.GetProperty("data").GetProperty("temperature").GetDouble());
        // The device list and the history on B say the same as A: online, with that reading.
        using var http = ClusterFixture.Http(b.HttpBase, cluster.ViewerKey);
        var listed = await Eventually(async () =>
        {
            var d = (await http.GetFromJsonAsync<JsonElement>("/api/devices")).EnumerateArray().Single(x => x.GetProperty("deviceId").GetString() == "live-1");
            return d.GetProperty("status").GetString() == "online" && d.GetProperty("lastReading").ValueKind == JsonValueKind.Object ? d : (JsonElement?)null;
        }, "node-b lists live-1 online with a reading");
        Assert.Equal(insertId, listed.GetProperty("lastReading").GetProperty("insertId").GetInt64());
        var history = await http.GetFromJsonAsync<JsonElement>("/api/devices/live-1/readings?limit=10");
        Assert.Contains(insertId, history.EnumerateArray().Select(r => r.GetProperty("insertId").GetInt64()));
    }

    [ClusterFact]
    public async Task A_technicians_ping_on_node_b_is_answered_by_the_device_on_node_a_and_audited_on_every_node()
    {
        var (a, b) = await WholeAsync();
        await using var device = await TestClient.ConnectDeviceAsync(a.WsUri, "ping-1", cluster.Token("ping-1"));
        await UntilHeldAsync("ping-1", a.Name);
        using var http = ClusterFixture.Http(b.HttpBase, cluster.TechnicianKey);

        var post = PostAsync(http, "ping-1", new { endpoint = "ping" });
        var request = await device.ReceiveAsync("request");
        Assert.Equal("ping", request.GetProperty("endpoint").GetString());
        await AnswerAsync(device, request, new { pong = true });
        var (status, call, _) = await post;

        Assert.True(status == 200, call.ToString());
        Assert.Equal("succeeded", call.GetProperty("status").GetString());
        Assert.Equal("test-technician", call.GetProperty("caller").GetString());
        Assert.Equal(["sent", "succeeded"], Statuses(call));
        foreach (var node in cluster.Nodes)
        {
            using var audit = ClusterFixture.Http(node.HttpBase, cluster.TechnicianKey);
            Assert.Equal("succeeded", (await GetCallAsync(audit, call.GetProperty("id").GetString()!)).GetProperty("status").GetString());
        }
    }

    [ClusterFact]
    public async Task A_persistent_call_queued_on_node_b_is_delivered_when_the_device_connects_to_node_a()
    {
        var (a, b) = await WholeAsync();
        using var http = ClusterFixture.Http(b.HttpBase, cluster.TechnicianKey);
        var (status, queued, _) = await PostAsync(http, "queued-1", new { endpoint = "set_interval", data = new { seconds = 30 }, persistent = true, ttlSeconds = 300 });
        Assert.True(status == 202, queued.ToString());
        var id = queued.GetProperty("id").GetString()!;

        await using var device = await TestClient.ConnectDeviceAsync(a.WsUri, "queued-1", cluster.Token("queued-1"));
        var request = await device.ReceiveAsync("request", TimeSpan.FromSeconds(15));
        Assert.Equal(id, request.GetProperty("requestId").GetString());
        Assert.Equal("set_interval", request.GetProperty("endpoint").GetString());
        await AnswerAsync(device, request, new { seconds = 30 });

        var done = await WaitForStatusAsync(http, id, "succeeded", TimeSpan.FromSeconds(15));
        Assert.Equal(30, done.GetProperty("result").GetProperty("seconds").GetInt32());
        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(500)), "the call was delivered twice");
    }

    [ClusterFact]
    public async Task A_device_connecting_to_node_b_closes_its_connection_on_node_a_with_4409_and_status_everywhere_names_node_b()
    {
        var (a, b) = await WholeAsync();
        await using var first = await TestClient.ConnectDeviceAsync(a.WsUri, "takeover-1", cluster.Token("takeover-1"));
        await UntilHeldAsync("takeover-1", a.Name);

        await using var second = await TestClient.ConnectDeviceAsync(b.WsUri, "takeover-1", cluster.Token("takeover-1"));

        Assert.Equal(4409, await first.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        await UntilHeldAsync("takeover-1", b.Name);
        // The new connection is the live one: its reading is stored and acknowledged.
        Assert.True(await SendReadingAsync(second, 1, 20.5) > 0);
    }

    [ClusterFact]
    public async Task Status_on_every_node_lists_the_three_nodes_and_which_node_holds_each_device()
    {
        await WholeAsync();
        var c = cluster.Nodes[2];
        await using var device = await TestClient.ConnectDeviceAsync(c.WsUri, "status-1", cluster.Token("status-1"));

        await UntilHeldAsync("status-1", c.Name);
        foreach (var node in cluster.Nodes)
        {
            var section = (await StatusAsync(node)).GetProperty("cluster");
            Assert.Equal(node.Name, section.GetProperty("nodeId").GetString());
            Assert.Equal(["node-a", "node-b", "node-c"], section.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("nodeId").GetString()).Order(StringComparer.Ordinal));
            Assert.Equal(node.Name, section.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("self").GetBoolean()).GetProperty("nodeId").GetString());
        }
    }

    [ClusterFact]
    public async Task A_hot_reading_on_one_node_raises_one_alert_seen_on_every_node_not_one_per_node()
    {
        var (_, b) = await WholeAsync();
        var c = cluster.Nodes[2];
        await using var watcher = await TestClient.ConnectWithKeyAsync(c.WsUri, cluster.ViewerKey);
        await SubscribeAsync(watcher, "system_alerts");
        await using var device = await TestClient.ConnectDeviceAsync(b.WsUri, "alert-1", cluster.Token("alert-1"));

        await SendReadingAsync(device, 1, 45);
        await SendReadingAsync(device, 2, 46);

        var raised = await watcher.ReceiveAsync("publish", TimeSpan.FromSeconds(15), m => m.GetProperty("data").GetProperty("deviceId").GetString() == "alert-1");
        Assert.Equal("cluster-hot", raised.GetProperty("data").GetProperty("rule").GetString());
        // Several check intervals on three nodes: a node judging on its own would have raised a second one by now.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(500)), "a second alert was published");
        var rows = await cluster.QueryAsync("SELECT count(*) FROM alerts WHERE device_id = 'alert-1'");
        Assert.Equal(1L, (long)rows[0][0]);
        foreach (var node in cluster.Nodes)
        {
            using var http = ClusterFixture.Http(node.HttpBase, cluster.ViewerKey);
            var active = await http.GetFromJsonAsync<JsonElement>("/api/alerts?state=active");
            Assert.Single(active.EnumerateArray(), x => x.GetProperty("deviceId").GetString() == "alert-1");
        }
    }

    /// <summary>Waits until every node's /api/status shows all three nodes alive; returns nodes A and B.</summary>
    private async Task<(GatewayNode A, GatewayNode B)> WholeAsync()
    {
        foreach (var node in cluster.Nodes) await node.StartAsync();
        await Eventually(async () =>
        {
            foreach (var node in cluster.Nodes)
            {
                var nodes = (await StatusAsync(node)).GetProperty("cluster").GetProperty("nodes").EnumerateArray();
                if (nodes.Count(n => n.GetProperty("alive").GetBoolean()) != cluster.Nodes.Count) return (bool?)null;
            }
            return true;
        }, "every node sees all three nodes alive");
        return (cluster.Nodes[0], cluster.Nodes[1]);
    }

    /// <summary>Waits until /api/status on every node names this node as the device's holder.</summary>
    private Task UntilHeldAsync(string deviceId, string nodeId) => Eventually(async () =>
    {
        foreach (var node in cluster.Nodes)
        {
            var devices = (await StatusAsync(node)).GetProperty("cluster").GetProperty("devices");
            if (!devices.TryGetProperty(deviceId, out var holder) || holder.GetString() != nodeId) return (bool?)null;
        }
        return true;
    }, $"every node's /api/status says {nodeId} holds {deviceId}");

    private async Task<JsonElement> StatusAsync(GatewayNode node)
    {
        using var http = ClusterFixture.Http(node.HttpBase, cluster.AdminKey);
        return await http.GetFromJsonAsync<JsonElement>("/api/status");
    }

    private async Task<T> Eventually<T>(Func<Task<T?>> probe, string what, double seconds = 20) where T : struct
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            if (await probe() is { } value) return value;
            if (DateTime.UtcNow > deadline)
            {
                output.WriteLine(cluster.Logs());
                throw new TimeoutException($"Not within {seconds} s: {what}");
            }
            await Task.Delay(50);
        }
    }

    private static async Task Until(Func<bool> condition, string what, double seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Not within {seconds} s: {what}");
            await Task.Delay(5);
        }
    }
}
