using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace IotWs.Gateway.Tests.PubSub;

/// <summary>Tests that measure latency or real intervals run alone, after the parallel ones, so they measure the gateway rather than the test run.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "Timing-sensitive pub/sub and presence";
}

[Collection(TimingSensitive.Name)]
public sealed class SlowConsumerTests(ITestOutputHelper output)
{
    /// <summary>
    /// One subscriber stops reading (its socket has a tiny receive buffer) while a technician publishes
    /// 40 KB messages. Another subscriber must get every message within 1 s of its publish, a device's
    /// heartbeats must be answered within 1 s, and the stuck subscriber must be closed with 1008.
    /// </summary>
    [Fact]
    public async Task A_subscriber_that_never_reads_does_not_delay_another_subscriber_or_device_acks_and_is_closed_with_1008()
    {
        await using var gateway = await TestGateway.StartAsync(null,
            "OutboxCapacity=16", "RateLimit:MessagesPerSecond=100000", "RateLimit:Burst=100000");
        var technicianKey = gateway.AddKey("technician");
        var viewerKey = gateway.AddKey("viewer");
        var deviceToken = gateway.AddDevice("esp-busy");

        await using var publisher = await gateway.ConnectWithKeyAsync(technicianKey);
        await using var fast = await gateway.ConnectWithKeyAsync(viewerKey);
        await PubSubTests.Subscribe(fast, "bulk/#");
        await using var device = await gateway.ConnectDeviceAsync("esp-busy", deviceToken);
        using var stuck = await ConnectNonReadingSubscriberAsync(gateway, viewerKey, "bulk/#");
        var stuckSession = gateway.Service<ConnectionRegistry>().Find(stuck.ClientId)!;
        Assert.NotNull(stuckSession);

        var sentAt = new ConcurrentDictionary<int, long>();
        var latencies = new ConcurrentDictionary<int, double>();
        var received = 0;
        var last = -1;
        using var stop = new CancellationTokenSource();

        var fastReader = Task.Run(async () =>
        {
            while (true)
            {
                var message = await fast.ReceiveAsync("publish", TimeSpan.FromSeconds(15));
                var i = message.GetProperty("data").GetProperty("i").GetInt32();
                latencies[i] = Stopwatch.GetElapsedTime(sentAt[i]).TotalMilliseconds;
                Interlocked.Increment(ref received);
                if (i == Volatile.Read(ref last)) return;
            }
        });

        var heartbeatRtts = new ConcurrentBag<double>();
        var heartbeats = Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                await device.SendAsync(new { type = "heartbeat", timestamp = ++n });
                await device.ReceiveAsync("heartbeat_response", TimeSpan.FromSeconds(10), m => m.GetProperty("timestamp").GetInt32() == n);
                heartbeatRtts.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                await Task.Delay(50);
            }
        });

        var pad = new string('x', 40 * 1024);
        var published = 0;
        var statusChecked = false;
        var stuckClosedAt = -1;
        for (var i = 0; i < 4000; i++)
        {
            // Keep the reading subscriber's backlog well under its outbox: what is measured is its latency, not its drops.
            while (Volatile.Read(ref received) < i - 8) await Task.Delay(1);
            sentAt[i] = Stopwatch.GetTimestamp();
            await publisher.SendAsync(new { type = "publish", topic = "bulk/data", data = new { i, pad } });
            published = i + 1;

            if (!statusChecked && stuckSession.Outbox.Dropped > 0 && !stuckSession.IsClosing)
            {
                // Dropping has started but the connection is not closed yet: status shows the counter.
                statusChecked = true;
                var status = JsonNode.Parse(await gateway.Http(viewerKey).GetStringAsync("/api/status"))!;
                var listed = status["pubsub"]!["outbox"]!["connections"]!.AsArray()
                    .First(c => c!["clientId"]!.GetValue<string>() == stuck.ClientId)!;
                Assert.True(listed["dropped"]!.GetValue<long>() > 0, listed.ToJsonString());
                Assert.Equal(1, listed["subscriptions"]!.GetValue<int>());
                Assert.Contains(status["pubsub"]!["subscribersByFilter"]!.AsArray(), f => f!["filter"]!.GetValue<string>() == "bulk/#" && f["subscribers"]!.GetValue<int>() == 2);
            }
            if (stuckClosedAt < 0 && stuckSession.IsClosing) stuckClosedAt = i;
            // Keep publishing a while after the close to show the others are unaffected.
            if (stuckClosedAt >= 0 && i >= stuckClosedAt + 30) break;
        }
        output.WriteLine($"published {published}; stuck subscriber closed after message {stuckClosedAt}, dropped {stuckSession.Outbox.Dropped}");
        Assert.True(stuckClosedAt >= 0, $"the non-reading subscriber was not closed after {published} messages");
        Assert.Equal(1008, stuckSession.CloseCode);
        Assert.True(statusChecked, "status was never looked at while the subscriber was dropping");

        // The stuck peer reads again inside the close grace: it gets the close frame with 1008.
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, await stuck.DrainUntilCloseAsync(TimeSpan.FromSeconds(4)));

        // A last message the reader knows to stop at.
        Volatile.Write(ref last, published);
        sentAt[published] = Stopwatch.GetTimestamp();
        await publisher.SendAsync(new { type = "publish", topic = "bulk/data", data = new { i = published, pad } });
        published++;
        await fastReader.WaitAsync(TimeSpan.FromSeconds(20));
        stop.Cancel();
        await heartbeats.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(Enumerable.Range(0, published), latencies.Keys.Order());
        var worst = latencies.Values.Max();
        var worstHeartbeat = heartbeatRtts.Max();
        output.WriteLine($"fast subscriber: {published} messages of 40 KB, latency max {worst:0.0} ms, median {Median(latencies.Values):0.0} ms");
        output.WriteLine($"device heartbeats: {heartbeatRtts.Count}, round trip max {worstHeartbeat:0.0} ms, median {Median(heartbeatRtts):0.0} ms");
        Assert.True(worst < 1000, $"a message took {worst} ms to reach the reading subscriber");
        Assert.True(worstHeartbeat < 1000, $"a heartbeat took {worstHeartbeat} ms to be answered");

        var after = JsonNode.Parse(await gateway.Http(viewerKey).GetStringAsync("/api/status"))!["pubsub"]!["outbox"]!;
        Assert.True(after["slowConsumersClosed"]!.GetValue<long>() >= 1 || stuckSession.Outbox.IsStuck);
        Assert.True(after["dropped"]!.GetValue<long>() > 0);
    }

    /// <summary>
    /// Issue 12 item 9: three subscribers on # that never read (default socket buffers), about 47 publishes/s of
    /// 30 KB, default OutboxCapacity. The overflow policy must close each with 1008 (counted, logged as 1008) before
    /// the 30 s send timeout would have dropped them as "1000 connection lost".
    /// </summary>
    [Fact]
    public async Task Subscribers_on_everything_that_never_read_large_publishes_are_closed_with_1008_counted_and_logged_as_slow_consumers()
    {
        var logs = new CapturedLogs();
        await using var gateway = await TestGateway.StartAsync(null, builder =>
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.AddFilter<CapturedLogs>("IotWs", LogLevel.Information);
        }, "RateLimit:MessagesPerSecond=1000", "RateLimit:Burst=1000");
        var technicianKey = gateway.AddKey("technician");
        var viewerKey = gateway.AddKey("viewer");
        await using var publisher = await gateway.ConnectWithKeyAsync(technicianKey);
        var stuck = new List<NonReadingSubscriber>();
        try
        {
            for (var i = 0; i < 3; i++) stuck.Add(await ConnectNonReadingSubscriberAsync(gateway, viewerKey, "#", receiveBufferSize: null));
            var registry = gateway.Service<ConnectionRegistry>();
            var sessions = stuck.Select(s => registry.Find(s.ClientId)!).ToArray();
            Assert.All(sessions, Assert.NotNull);

            var pad = new string('x', 30 * 1024);
            var clock = Stopwatch.StartNew();
            var published = 0;
            while (!sessions.All(s => s.IsClosing) && clock.Elapsed < TimeSpan.FromSeconds(25))
            {
                await publisher.SendAsync(new { type = "publish", topic = "bulk/data", data = new { i = published++, pad } });
                await Task.Delay(TimeSpan.FromMilliseconds(1000.0 / 47));
            }
            output.WriteLine($"{published} publishes of 30 KB in {clock.Elapsed.TotalSeconds:0.0} s; dropped {string.Join(", ", sessions.Select(s => s.Outbox.Dropped))}");
            Assert.All(sessions, s => Assert.True(s.IsClosing, $"{s.ClientId} was not closed after {published} publishes"));
            Assert.All(sessions, s => Assert.Equal(1008, s.CloseCode));

            // Each peer reading again inside the close grace gets what was in flight, then the close frame with 1008.
            var closes = await Task.WhenAll(stuck.Select(s => s.DrainUntilCloseAsync(TimeSpan.FromSeconds(4))));
            Assert.All(closes, c => Assert.Equal(WebSocketCloseStatus.PolicyViolation, c));

            var deadline = Stopwatch.StartNew();
            while (sessions.Any(s => registry.Find(s.ClientId) is not null) && deadline.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(20);
            var outbox = JsonNode.Parse(await gateway.Http(viewerKey).GetStringAsync("/api/status"))!["pubsub"]!["outbox"]!;
            Assert.Equal(3, outbox["slowConsumersClosed"]!.GetValue<long>());
            foreach (var session in sessions)
            {
                var lines = logs.Lines.Where(l => l.Contains(session.ClientId, StringComparison.Ordinal)).ToArray();
                Assert.Contains(lines, l => l.Contains("disconnected (1008 slow consumer", StringComparison.Ordinal));
                Assert.Contains(lines, l => l.Contains("closed with 1008 as a slow consumer", StringComparison.Ordinal));
                Assert.DoesNotContain(lines, l => l.Contains("connection lost", StringComparison.Ordinal));
            }
        }
        finally
        {
            foreach (var s in stuck) s.Dispose();
        }
    }

    /// <summary>Keeps the gateway's log lines (formatted) for assertions.</summary>
    private sealed class CapturedLogs : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyCollection<string> Lines => _lines;

        public ILogger CreateLogger(string categoryName) => new Logger(_lines);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue(formatter(state, exception));
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
    }

    /// <summary>A real ClientWebSocket (over a socket with a 4 KB receive buffer unless told otherwise) that, once subscribed, reads nothing until told to.</summary>
    private static async Task<NonReadingSubscriber> ConnectNonReadingSubscriberAsync(TestGateway gateway, string key, string filter, int? receiveBufferSize = 4096)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                if (receiveBufferSize is { } size) socket.ReceiveBufferSize = size;
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        var ws = new ClientWebSocket();
        await ws.ConnectAsync(gateway.WsUri, new HttpMessageInvoker(handler), CancellationToken.None);
        var subscriber = new NonReadingSubscriber(ws, handler);
        await subscriber.SendAsync(new { type = "handshake", clientType = "application", capabilities = Array.Empty<string>(), version = "1.0.0" });
        await subscriber.SendAsync(new { type = "auth", token = key });
        var auth = await subscriber.ReadUntilAsync("auth_response");
        subscriber.ClientId = auth.GetProperty("clientId").GetString()!;
        await subscriber.SendAsync(new { type = "subscribe", topic = filter });
        await subscriber.ReadUntilAsync("subscribe_response");
        return subscriber;
    }

    private sealed class NonReadingSubscriber(ClientWebSocket socket, SocketsHttpHandler handler) : IDisposable
    {
        private readonly byte[] _buffer = new byte[128 * 1024];

        public string ClientId { get; set; } = "";

        public Task SendAsync(object message) =>
            socket.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(message)), WebSocketMessageType.Text, true, CancellationToken.None);

        public async Task<JsonElement> ReadUntilAsync(string type)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (true)
            {
                var (kind, text) = await ReceiveOneAsync(cts.Token);
                if (kind == WebSocketMessageType.Close) throw new InvalidOperationException("closed before " + type);
                var message = JsonDocument.Parse(text).RootElement.Clone();
                if (message.GetProperty("type").GetString() == type) return message;
            }
        }

        /// <summary>Reads everything the gateway had queued, then returns the close status it sent.</summary>
        public async Task<WebSocketCloseStatus?> DrainUntilCloseAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            while (true)
            {
                var (kind, _) = await ReceiveOneAsync(cts.Token);
                if (kind == WebSocketMessageType.Close) return socket.CloseStatus;
            }
        }

        private async Task<(WebSocketMessageType, string)> ReceiveOneAsync(CancellationToken ct)
        {
            using var text = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(_buffer, ct);
                text.Write(_buffer, 0, result.Count);
            }
            while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
            return (result.MessageType, Encoding.UTF8.GetString(text.ToArray()));
        }

        public void Dispose()
        {
            socket.Abort();
            socket.Dispose();
            handler.Dispose();
        }
    }
}
