using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace IotWs.LoadTest;

/// <summary>
/// fanout: N devices send one reading per second each (spread over the second) while D dashboards (viewer keys)
/// subscribed to sensor_updates receive them; reports device-send → dashboard-receive latency and drops
/// (stored readings a dashboard never received).
/// </summary>
internal static class FanoutBench
{
    /// <summary>ByDashboardNode: delivery p50/p99 of the dashboards on each server of the run, in the order given.</summary>
    internal sealed record Result(double AckP99, double DeliveryP50, double DeliveryP99, double DeliveryP999, long Deliveries, long Stored, long Drops, long Errors, double ServerCpu, long Rss, string Load)
    {
        public IReadOnlyList<(double P50, double P99, int Count)> ByDashboardNode { get; init; } = [];
    }

    public static async Task<int> RunAsync(BenchOptions o)
    {
        var r = await MeasureAsync(o);
        return r.Drops == 0 && r.Errors == 0 ? 0 : 1;
    }

    internal static async Task<Result> MeasureAsync(BenchOptions o)
    {
        var n = o.Int("devices", 1000);
        var dashboards = o.Int("dashboards", 10);
        var seconds = o.Int("seconds", 20);
        var warmup = o.Int("warmup", 3);
        Console.WriteLine($"fanout: {n} devices at 1 reading/s, {dashboards} dashboards on sensor_updates, {warmup} s warm-up + {seconds} s measured, gateway gc {o.String("gc", "project")}, extra settings '{o.String("set", "")}'");
        Console.WriteLine(BenchTarget.Machine());
        using var provisioning = Provisioning.Create(n);
        await using var server = await BenchTarget.StartGatewayAsync(provisioning, o);
        return await MeasureOnAsync(provisioning, [server], [server], dashboards, seconds, warmup);
    }

    /// <summary>
    /// The measurement on servers already started: the devices spread over <paramref name="deviceServers"/>, the
    /// dashboards over <paramref name="dashboardServers"/> (dashboard i on server i % count), so a cluster run can put
    /// devices on one node and dashboards on another. CPU and memory are summed over every server named.
    /// </summary>
    internal static async Task<Result> MeasureOnAsync(Provisioning provisioning, IReadOnlyList<ChildServer> deviceServers, IReadOnlyList<ChildServer> dashboardServers,
        int dashboards, int seconds, int warmup)
    {
        var servers = deviceServers.Concat(dashboardServers).Distinct().ToList();
        using var stop = new CancellationTokenSource();

        long windowStart = long.MaxValue, windowEnd = long.MaxValue;
        var delivery = new Latencies();
        var byNode = dashboardServers.Select(_ => new Latencies()).ToArray();
        var acks = new Latencies();
        var received = new long[dashboards];
        long stored = 0, errors = 0;

        var viewers = await LoadClient.ConnectManyAsync(dashboardServers.Select(d => d.WsUri).ToList(), Enumerable.Range(0, dashboards).Select(i => ($"dash-{i}", provisioning.ViewerKey)).ToList(), false, 0, 10, CancellationToken.None);
        var subscribed = viewers.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var dashboardReaders = viewers.Select((v, i) => v.ReadLoopAsync(message =>
        {
            var now = Stopwatch.GetTimestamp();
            var reply = Reply.Parse(message.Span);
            if (reply.Type == "subscribe_response") subscribed[i].TrySetResult();
            if (reply.Type != "publish" || reply.Topic != "sensor_updates") return;
            Interlocked.Increment(ref received[i]);
            if (reply.SensorId is { Length: > 1 } s && long.TryParse(s.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var sentTicks)
                && sentTicks >= Volatile.Read(ref windowStart) && sentTicks < Volatile.Read(ref windowEnd))
            {
                delivery.Add(BenchTarget.Micros(sentTicks, now));
                byNode[i % byNode.Length].Add(BenchTarget.Micros(sentTicks, now));
            }
        }, CancellationToken.None)).ToArray();
        foreach (var v in viewers) await v.SendAsync("{\"type\":\"subscribe\",\"topic\":\"sensor_updates\"}"u8.ToArray(), CancellationToken.None);
        await Task.WhenAll(subscribed.Select(s => s.Task)).WaitAsync(TimeSpan.FromSeconds(10));

        var devices = await LoadClient.ConnectManyAsync(deviceServers.Select(d => d.WsUri).ToList(), provisioning.Devices, true, 1, 64, CancellationToken.None);
        var deviceReaders = devices.Select(d =>
        {
            var sentAt = new long[64];
            return (Reader: d.ReadLoopAsync(message =>
            {
                var now = Stopwatch.GetTimestamp();
                var reply = Reply.Parse(message.Span);
                if (reply.Type == "data_response")
                {
                    if (!reply.Success) Interlocked.Increment(ref errors);
                    else Interlocked.Increment(ref stored);
                    var sent = sentAt[reply.Seq & 63];
                    if (sent >= Volatile.Read(ref windowStart) && sent < Volatile.Read(ref windowEnd)) acks.Add(BenchTarget.Micros(sent, now));
                }
                else if (reply.Type == "error") Interlocked.Increment(ref errors);
            }, CancellationToken.None), SentAt: sentAt);
        }).ToArray();
        var senders = devices.Select((d, i) => Task.Run(async () =>
        {
            try
            {
                // Spread the devices over the second, as real boards with independent clocks are.
                await Task.Delay(Random.Shared.Next(1000), stop.Token);
                using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
                var sentAt = deviceReaders[i].SentAt;
                for (long seq = 1; ; seq++)
                {
                    var ticks = Stopwatch.GetTimestamp();
                    sentAt[seq & 63] = ticks;
                    var text = "{\"type\":\"data\",\"dataType\":\"sensor\",\"seq\":" + seq + ",\"bootId\":1,\"timestamp\":" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()
                        + ",\"data\":{\"temperature\":21.5,\"humidity\":40,\"sensor_id\":\"t" + ticks.ToString(CultureInfo.InvariantCulture) + "\"}}";
                    await d.SendAsync(Encoding.UTF8.GetBytes(text), CancellationToken.None);
                    await timer.WaitForNextTickAsync(stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(warmup));
        var load = BenchTarget.LoadAverage();
        var cpu0 = servers.Aggregate(TimeSpan.Zero, (sum, x) => sum + x.CpuTime);
        var t0 = Stopwatch.GetTimestamp();
        Volatile.Write(ref windowStart, t0);
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        var t1 = Stopwatch.GetTimestamp();
        Volatile.Write(ref windowEnd, t1);
        var wall = Stopwatch.GetElapsedTime(t0, t1);
        var cpu = servers.Aggregate(TimeSpan.Zero, (sum, x) => sum + x.CpuTime) - cpu0;
        var rss = servers.Sum(x => x.Rss);
        await stop.CancelAsync();
        await Task.WhenAll(senders);
        await Task.Delay(TimeSpan.FromSeconds(2)); // stragglers

        var expected = Interlocked.Read(ref stored);
        var drops = received.Sum(r => Math.Max(0, expected - r));
        var (p50, p99, p999, max) = delivery.Percentiles();
        var ack = acks.Percentiles();
        Console.WriteLine($"device ack (stored): p50 {ack.P50:0.0} ms  p99 {ack.P99:0.0} ms  p99.9 {ack.P999:0.0} ms  max {ack.Max:0.0} ms");
        Console.WriteLine($"device → dashboard: p50 {p50:0.0} ms  p99 {p99:0.0} ms  p99.9 {p999:0.0} ms  max {max:0.0} ms over {delivery.Count:N0} deliveries");
        Console.WriteLine($"stored {expected:N0} readings ({expected / (wall.TotalSeconds + warmup + 2):N0}/s); each of {dashboards} dashboards received {string.Join(", ", received.Distinct())}; drops {drops}; errors {Interlocked.Read(ref errors)}");
        Console.WriteLine($"gateway CPU {BenchTarget.CpuPercent(cpu, wall):0}%{(servers.Count > 1 ? $" (summed over {servers.Count} nodes)" : "")}  RSS {rss / 1048576.0:0.0} MB  [load {load}]");

        foreach (var c in devices.Concat(viewers)) await c.CloseAsync();
        foreach (var c in devices.Concat(viewers)) await c.DisposeAsync();
        await Task.WhenAll(deviceReaders.Select(r => r.Reader).Concat(dashboardReaders));
        return new Result(ack.P99, p50, p99, p999, delivery.Count, expected, drops, Interlocked.Read(ref errors), BenchTarget.CpuPercent(cpu, wall), rss, load)
        {
            ByDashboardNode = byNode.Select(l => (l.At(0.5), l.At(0.99), l.Count)).ToList(),
        };
    }
}
