using Xunit.Abstractions;

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
