using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace IotWs.LoadTest;

/// <summary>
/// fanout-vs-mqtt: the same publishers (1,000) and wildcard subscribers (10) through Mosquitto (MQTTnet clients, QoS 0,
/// nothing stored) and then through the gateway (devices sending readings, every reading stored and acked before it
/// is published, viewers subscribed to devices/+/readings), each ramped through the same rates. A step passes when
/// the publishers kept the rate (≥ 90%: the load generator shares the two cores), every subscriber received every reading,
/// and delivery p99 stayed under --max-p99-ms (1 s); the figure is the highest rate
/// that passed, with its delivery latency (publish → subscriber receive).
/// </summary>
internal static class BrokerFanoutBench
{
    internal sealed record Step(string Target, double TargetRate, double Published, long Missing, double P50, double P99, double ServerCpu, string Load, bool Ok, string Why);

    internal sealed record Result(List<Step> Mosquitto, List<Step> Gateway)
    {
        public Step? BestMosquitto => Mosquitto.LastOrDefault(s => s.Ok);
        public Step? BestGateway => Gateway.LastOrDefault(s => s.Ok);
    }

    private const string Filter = "devices/+/readings";

    /// <summary>
    /// A step whose delivery p99 exceeds this is over capacity even when nothing was lost: queues (the broker's, the
    /// client library's, the gateway's outboxes) grew through the step and would grow without bound.
    /// </summary>
    private static double MaxP99Ms = 1000;

    public static async Task<int> RunAsync(BenchOptions o)
    {
        Console.WriteLine(BenchTarget.Machine());
        var r = await MeasureAsync(o);
        PrintSummary(r);
        return 0;
    }

    internal static void PrintSummary(Result r)
    {
        var m = r.BestMosquitto;
        var g = r.BestGateway;
        Console.WriteLine($"highest rate with every reading delivered to every subscriber: Mosquitto {Fmt(m)}; gateway {Fmt(g)}"
            + (m is not null && g is not null ? $"; ratio {g.Published / m.Published:0.00}x Mosquitto" : ""));

        static string Fmt(Step? s) => s is null ? "none passed" : $"{s.Published:N0} readings/s ({s.Published * 10:N0} deliveries/s to 10), p99 {s.P99:0.0} ms [load {s.Load}]";
    }

    internal static async Task<Result> MeasureAsync(BenchOptions o)
    {
        var publishers = o.Int("publishers", 1000);
        var subscribers = o.Int("subscribers", 10);
        var rates = o.Ints("rates", [500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 10000, 12000, 14000, 16000]);
        var stepSeconds = o.Int("step-seconds", 5);
        MaxP99Ms = o.Double("max-p99-ms", 1000);
        Console.WriteLine($"fanout-vs-mqtt: {publishers} publishers, {subscribers} subscribers on {Filter}, rates {string.Join(", ", rates)} readings/s in total, {stepSeconds} s a step");
        var mosquitto = await MosquittoAsync(publishers, subscribers, rates, stepSeconds);
        var gateway = await GatewayAsync(o, publishers, subscribers, rates, stepSeconds);
        return new Result(mosquitto, gateway);
    }

    /// <summary>What a ramp needs from a target: a way to publish, and counters the subscribers and acks update.</summary>
    private sealed class Counters(int subscribers)
    {
        public readonly long[] Received = new long[subscribers];
        public long Sent;      // readings the target took (MQTT: published; gateway: acked as stored)
        public long Errors;
        public Latencies Current = new();
        public long StepStart = long.MaxValue;

        public void Delivered(int subscriber, ReadOnlySpan<byte> json)
        {
            var now = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref Received[subscriber]);
            var reply = Reply.Parse(json);
            if (reply.SensorId is { Length: > 1 } s && long.TryParse(s.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var sentTicks)
                && sentTicks >= Volatile.Read(ref StepStart))
            {
                Volatile.Read(ref Current).Add(BenchTarget.Micros(sentTicks, now));
            }
        }
    }

    private static byte[] Reading(string deviceId, long seq, long ticks) => Encoding.UTF8.GetBytes(
        "{\"type\":\"data\",\"dataType\":\"sensor\",\"seq\":" + seq + ",\"bootId\":1,\"timestamp\":" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()
        + ",\"data\":{\"temperature\":21.5,\"humidity\":40,\"sensor_id\":\"t" + ticks.ToString(CultureInfo.InvariantCulture) + "\",\"location\":\"" + deviceId + "\"}}");

    /// <summary>Runs the steps until one fails; each publisher sends at rate/publishers on its own schedule.</summary>
    private static async Task<List<Step>> RampAsync(string target, int publishers, double[] rates, int stepSeconds, Counters c,
        Func<int, long, long, ValueTask<bool>> publish, Func<TimeSpan> serverCpu, Func<bool> healthy)
    {
        var steps = new List<Step>();
        var seqs = new long[publishers];
        // A first step at the lowest rate warms up (JIT, pools, connections' first messages) and is not reported.
        foreach (var (rate, warmingUp) in rates.Take(1).Select(r => (r, true)).Concat(rates.Select(r => (r, false))))
        {
            var latencies = new Latencies();
            Volatile.Write(ref c.Current, latencies);
            var load = BenchTarget.LoadAverage();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(stepSeconds));
            var sentBefore = Interlocked.Read(ref c.Sent);
            var receivedBefore = Enumerable.Range(0, c.Received.Length).Select(j => Interlocked.Read(ref c.Received[j])).ToArray();
            var interval = publishers / rate;
            var cpu0 = serverCpu();
            var t0 = Stopwatch.GetTimestamp();
            Volatile.Write(ref c.StepStart, t0);
            long attempted = 0;
            var tasks = Enumerable.Range(0, publishers).Select(i => Task.Run(async () =>
            {
                var next = Stopwatch.GetTimestamp() + (long)(Random.Shared.NextDouble() * interval * Stopwatch.Frequency);
                try
                {
                    while (!stop.IsCancellationRequested)
                    {
                        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                        if (wait > TimeSpan.Zero) await Task.Delay(wait, stop.Token);
                        next += (long)(interval * Stopwatch.Frequency);
                        if (!await publish(i, ++seqs[i], Stopwatch.GetTimestamp())) return;
                        Interlocked.Increment(ref attempted);
                    }
                }
                catch (OperationCanceledException)
                {
                }
            })).ToArray();
            await Task.WhenAll(tasks);
            var wall = Stopwatch.GetElapsedTime(t0);
            var cpu = serverCpu() - cpu0;
            // Drain: everything taken reaches every subscriber, or the step failed (waits while deliveries still arrive).
            long Total() => Enumerable.Range(0, c.Received.Length).Sum(j => Interlocked.Read(ref c.Received[j])) + Interlocked.Read(ref c.Sent);
            var drain = Stopwatch.StartNew();
            var progress = (At: drain.Elapsed, Total: Total());
            await Task.Delay(200); // acks still arriving count as sent
            while (drain.Elapsed - progress.At < TimeSpan.FromSeconds(2) && drain.Elapsed < TimeSpan.FromSeconds(20)
                && Enumerable.Range(0, c.Received.Length).Any(j => Interlocked.Read(ref c.Received[j]) - receivedBefore[j] < Interlocked.Read(ref c.Sent) - sentBefore))
            {
                await Task.Delay(50);
                if (Total() != progress.Total) progress = (drain.Elapsed, Total());
            }
            var sent = Interlocked.Read(ref c.Sent);
            var missing = Enumerable.Range(0, c.Received.Length).Sum(j => Math.Max(0, sent - sentBefore - (Interlocked.Read(ref c.Received[j]) - receivedBefore[j])));
            var published = (sent - sentBefore) / wall.TotalSeconds;
            var why = new List<string>();
            if (published < 0.9 * rate) why.Add($"publishers reached only {published:N0}/s");
            if (missing > 0) why.Add($"{missing:N0} deliveries missing");
            if (Interlocked.Read(ref c.Errors) > 0) why.Add($"{c.Errors} errors");
            if (!healthy()) why.Add("a connection was closed");
            if (latencies.At(0.99) > MaxP99Ms) why.Add($"p99 above {MaxP99Ms:0} ms (queues growing)");
            var step = new Step(target, rate, published, missing, latencies.At(0.5), latencies.At(0.99), BenchTarget.CpuPercent(cpu, wall), load, why.Count == 0, string.Join(", ", why));
            if (warmingUp)
            {
                Console.WriteLine($"{target,-9} warm-up step at {rate:N0}/s: {(why.Count == 0 ? "ok" : string.Join(", ", why))}");
                continue;
            }
            Console.WriteLine($"{target,-9} [load {load}] target {rate,7:N0}/s  published {published,7:N0}/s  delivered to each of {c.Received.Length}: p50 {step.P50,6:0.0} ms  p99 {step.P99,6:0.0} ms  server CPU {step.ServerCpu,4:0}%  {(step.Ok ? "ok" : "FAILED: " + step.Why)}");
            steps.Add(step);
            if (!step.Ok) break;
            await Task.Delay(500);
        }
        return steps;
    }

    private static async Task<List<Step>> MosquittoAsync(int publishers, int subscribers, int[] rates, int stepSeconds)
    {
        await using var broker = await Mosquitto.StartAsync();
        var factory = new MqttClientFactory();
        var c = new Counters(subscribers);
        var subs = new List<IMqttClient>();
        for (var i = 0; i < subscribers; i++)
        {
            var sub = factory.CreateMqttClient();
            var index = i;
            sub.ApplicationMessageReceivedAsync += e =>
            {
                var payload = e.ApplicationMessage.Payload;
                if (payload.IsSingleSegment) c.Delivered(index, payload.FirstSpan);
                else c.Delivered(index, payload.ToArray());
                return Task.CompletedTask;
            };
            await sub.ConnectAsync(Options(factory, broker.Port, $"sub-{i}"));
            await sub.SubscribeAsync(factory.CreateSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(Filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce)).Build());
            subs.Add(sub);
        }
        var pubs = new IMqttClient[publishers];
        using (var gate = new SemaphoreSlim(64))
        {
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    pubs[i] = factory.CreateMqttClient();
                    await pubs[i].ConnectAsync(Options(factory, broker.Port, $"bench-{i:D5}"));
                }
                finally
                {
                    gate.Release();
                }
            }));
        }
        var topics = Enumerable.Range(0, publishers).Select(i => $"devices/bench-{i:D5}/readings").ToArray();
        try
        {
            return await RampAsync("mosquitto", publishers, rates.Select(r => (double)r).ToArray(), stepSeconds, c, async (i, seq, ticks) =>
            {
                var message = new MqttApplicationMessageBuilder().WithTopic(topics[i]).WithPayload(Reading(topics[i], seq, ticks))
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce).Build();
                try
                {
                    await pubs[i].PublishAsync(message);
                    Interlocked.Increment(ref c.Sent);
                    return true;
                }
                catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException)
                {
                    Interlocked.Increment(ref c.Errors);
                    return false;
                }
            }, () => ProcStat.CpuTime(broker.Pid), () => subs.All(s => s.IsConnected) && pubs.All(p => p.IsConnected));
        }
        finally
        {
            foreach (var client in pubs.Concat(subs))
            {
                try { await client.DisconnectAsync(); } catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException or OperationCanceledException) { }
                client.Dispose();
            }
        }
    }

    private static MqttClientOptions Options(MqttClientFactory factory, int port, string id) =>
        factory.CreateClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(id).WithCleanSession().WithKeepAlivePeriod(TimeSpan.FromSeconds(60)).Build();

    private static async Task<List<Step>> GatewayAsync(BenchOptions o, int publishers, int subscribers, int[] rates, int stepSeconds)
    {
        using var provisioning = Provisioning.Create(publishers);
        await using var server = await BenchTarget.StartGatewayAsync(provisioning, o);
        var c = new Counters(subscribers);
        var viewers = await LoadClient.ConnectManyAsync(server.WsUri, Enumerable.Range(0, subscribers).Select(i => ($"dash-{i}", provisioning.ViewerKey)).ToList(), false, 0, 10, CancellationToken.None);
        var subscribed = viewers.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var viewerReaders = viewers.Select((v, i) => v.ReadLoopAsync(message =>
        {
            var reply = Reply.Parse(message.Span);
            if (reply.Type == "subscribe_response") subscribed[i].TrySetResult();
            else if (reply.Type == "publish" && reply.Topic is { } t && t.StartsWith("devices/", StringComparison.Ordinal)) c.Delivered(i, message.Span);
        }, CancellationToken.None)).ToArray();
        foreach (var v in viewers) await v.SendAsync(Encoding.UTF8.GetBytes("{\"type\":\"subscribe\",\"topic\":\"" + Filter + "\"}"), CancellationToken.None);
        await Task.WhenAll(subscribed.Select(s => s.Task)).WaitAsync(TimeSpan.FromSeconds(10));

        var devices = await LoadClient.ConnectManyAsync(server.WsUri, provisioning.Devices, true, 1, 64, CancellationToken.None);
        // A window of unacknowledged readings per device, as a device keeps what is not acked yet: a device that
        // finds its window full falls behind its schedule, and the step fails on the publish rate.
        var windows = devices.Select(_ => new SemaphoreSlim(64)).ToArray();
        var deviceReaders = devices.Select((d, i) => d.ReadLoopAsync(message =>
        {
            var reply = Reply.Parse(message.Span);
            if (reply.Type == "data_response")
            {
                if (reply.Success) Interlocked.Increment(ref c.Sent);
                else Interlocked.Increment(ref c.Errors);
                windows[i].Release();
            }
            else if (reply.Type == "error") Interlocked.Increment(ref c.Errors);
        }, CancellationToken.None)).ToArray();
        try
        {
            return await RampAsync("gateway", publishers, rates.Select(r => (double)r).ToArray(), stepSeconds, c, async (i, seq, ticks) =>
            {
                await windows[i].WaitAsync();
                try
                {
                    await devices[i].SendAsync(Reading(devices[i].Id, seq, ticks), CancellationToken.None);
                    return true;
                }
                catch (System.Net.WebSockets.WebSocketException)
                {
                    Interlocked.Increment(ref c.Errors);
                    return false;
                }
            }, () => server.CpuTime, () => viewers.All(v => v.IsOpen) && devices.All(d => d.IsOpen));
        }
        finally
        {
            foreach (var client in devices.Concat(viewers)) await client.CloseAsync();
            foreach (var client in devices.Concat(viewers)) await client.DisposeAsync();
            await Task.WhenAll(deviceReaders.Concat(viewerReaders));
        }
    }
}
