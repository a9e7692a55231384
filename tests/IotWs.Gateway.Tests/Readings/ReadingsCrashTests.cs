using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using IotWs.Gateway.Cli;
using IotWs.Gateway.Tests.Infrastructure;
using Xunit.Abstractions;

namespace IotWs.Gateway.Tests.Readings;

public sealed class ReadingsCrashTests(ITestOutputHelper output)
{
    private static readonly string[] Settings =
    [
        "Storage:CommitInterval=00:00:00.020",
        "RateLimit:MessagesPerSecond=100000",
        "RateLimit:Burst=100000",
    ];

    [Fact]
    public async Task After_SIGKILL_mid_stream_every_acked_reading_is_on_disk_and_a_full_replay_stores_each_reading_exactly_once()
    {
        var dir = TestGateway.NewDataDir();
        try
        {
            const int devices = 4;
            const long bootId = 9;
            var tokens = new string[devices];
            for (var d = 0; d < devices; d++)
            {
                var printed = new StringWriter();
                Assert.Equal(0, GatewayCli.Run(["devices", "add", $"crash-{d}", "--data-dir", dir], printed, TextWriter.Null));
                tokens[d] = JsonDocument.Parse(printed.ToString()).RootElement.GetProperty("token").GetString()!;
            }

            var sent = new long[devices];
            var acked = new ConcurrentDictionary<(int Device, long Seq), long>();
            await using (var gateway = await GatewayProcess.StartAsync(dir, Settings))
            {
                using var stop = new CancellationTokenSource();
                var streams = Enumerable.Range(0, devices).Select(d => Task.Run(async () =>
                {
                    // A window of 32 unacknowledged readings, as the firmware keeps them.
                    await using var device = await RawDevice.ConnectAsync(gateway.WsUri, $"crash-{d}", tokens[d], bootId);
                    var window = new SemaphoreSlim(32);
                    var reader = device.ReadAcksAsync(ack => { acked[(d, ack.Seq)] = ack.InsertId; window.Release(); });
                    try
                    {
                        for (long seq = 1; !stop.IsCancellationRequested; seq++)
                        {
                            await window.WaitAsync(stop.Token);
                            await device.SendReadingAsync(seq, bootId);
                            sent[d] = seq;
                        }
                    }
                    catch (Exception e) when (e is OperationCanceledException or WebSocketException)
                    {
                    }
                    await reader;
                })).ToArray();

                // Let a good number of readings through, then pull the plug while the devices keep sending.
                var deadline = DateTime.UtcNow.AddSeconds(20);
                while (acked.Count < 600 && DateTime.UtcNow < deadline) await Task.Delay(10);
                // Acks come in bursts, one per group commit: kill once the devices have refilled their windows.
                while (Volatile.Read(ref sent[0]) + Volatile.Read(ref sent[1]) + Volatile.Read(ref sent[2]) + Volatile.Read(ref sent[3]) - acked.Count < 64
                    && DateTime.UtcNow < deadline) await Task.Delay(1);
                gateway.Kill();
                stop.Cancel();
                await Task.WhenAll(streams).WaitAsync(TimeSpan.FromSeconds(10));
            }
            output.WriteLine($"killed with {sent.Sum()} readings sent, {acked.Count} acknowledged, {ReadingsDb.ReadingCount(dir)} in the file");
            Assert.True(acked.Count >= 600, $"only {acked.Count} readings were acknowledged before the kill");
            Assert.True(sent.Sum() > acked.Count, "the kill should land while readings are in flight");

            // Every acknowledged reading is in the file, with the insert id its ack named.
            var stored = ReadingsDb.Rows(dir, "SELECT device_id, seq, id FROM readings WHERE boot_id = 9")
                .ToDictionary(r => (int.Parse(((string)r[0]!)["crash-".Length..]), (long)r[1]!), r => (long)r[2]!);
            foreach (var (key, insertId) in acked)
            {
                Assert.True(stored.TryGetValue(key, out var id), $"acked reading {key} is missing after the crash");
                Assert.Equal(insertId, id);
            }

            // The rollups written before the kill plus the readings committed after their last flush equal the raw aggregates.
            ReadingsDb.AssertRollupsMatchRaw(dir);

            // Restart on the same directory; every device replays everything it sent.
            await using (var gateway = await GatewayProcess.StartAsync(dir, Settings))
            {
                var duplicates = 0;
                await Task.WhenAll(Enumerable.Range(0, devices).Select(d => Task.Run(async () =>
                {
                    await using var device = await RawDevice.ConnectAsync(gateway.WsUri, $"crash-{d}", tokens[d], bootId);
                    var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    var received = 0;
                    var reader = device.ReadAcksAsync(ack =>
                    {
                        if (ack.Duplicate)
                        {
                            Interlocked.Increment(ref duplicates);
                            // A duplicate names the insert id of the first store.
                            if (acked.TryGetValue((d, ack.Seq), out var first)) Assert.Equal(first, ack.InsertId);
                        }
                        if (++received == sent[d]) done.TrySetResult();
                    });
                    for (long seq = 1; seq <= sent[d]; seq++) await device.SendReadingAsync(seq, bootId);
                    await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
                    await device.CloseAsync();
                    await reader;
                })));
                output.WriteLine($"replay: {sent.Sum()} sent again, {duplicates} answered duplicate");
                Assert.True(duplicates >= acked.Count, $"{duplicates} duplicates answered, {acked.Count} were acknowledged before");
                gateway.Kill();
            }
            var perKey = ReadingsDb.Rows(dir, "SELECT device_id, seq, count(*) FROM readings WHERE boot_id = 9 GROUP BY device_id, seq");
            Assert.All(perKey, r => Assert.Equal(1L, r[2]));
            Assert.Equal(sent.Sum(), perKey.Count);
            Assert.Equal(sent.Sum(), ReadingsDb.ReadingCount(dir));
            ReadingsDb.AssertRollupsMatchRaw(dir);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, true);
        }
    }

    /// <summary>A device on a bare ClientWebSocket: handshake and auth pipelined, then seq'd readings.</summary>
    private sealed class RawDevice : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private readonly SemaphoreSlim _sendLock = new(1);
        private readonly string _id;

        private RawDevice(string id) => _id = id;

        public readonly record struct Ack(long Seq, long InsertId, bool Duplicate);

        public static async Task<RawDevice> ConnectAsync(Uri uri, string id, string token, long bootId)
        {
            var device = new RawDevice(id);
            await device._socket.ConnectAsync(uri, CancellationToken.None);
            await device.SendTextAsync(JsonSerializer.Serialize(new { type = "handshake", clientType = "microcontroller", capabilities = new[] { "sensor_data" }, version = "1.0.0", deviceId = id, bootId, heartbeatInterval = 30000 }));
            await device.SendTextAsync(JsonSerializer.Serialize(new { type = "auth", token }));
            while (true)
            {
                var message = await device.ReceiveAsync() ?? throw new InvalidOperationException("closed before auth_response");
                if (message.GetProperty("type").GetString() != "auth_response") continue;
                Assert.True(message.GetProperty("success").GetBoolean(), message.ToString());
                return device;
            }
        }

        public Task SendReadingAsync(long seq, long bootId) =>
            SendTextAsync("{\"type\":\"data\",\"dataType\":\"sensor\",\"seq\":" + seq + ",\"bootId\":" + bootId
                + ",\"timestamp\":" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()
                + ",\"data\":{\"temperature\":" + (20 + seq % 10) + ",\"humidity\":" + (40 + seq % 20) + ",\"sensor_id\":\"" + _id + "-dht\"}}");

        /// <summary>Reads until the connection ends, reporting every successful data_response.</summary>
        public async Task ReadAcksAsync(Action<Ack> onAck)
        {
            try
            {
                while (await ReceiveAsync() is { } m)
                {
                    if (m.GetProperty("type").GetString() != "data_response") continue;
                    Assert.True(m.GetProperty("success").GetBoolean(), m.ToString());
                    onAck(new Ack(m.GetProperty("seq").GetInt64(), m.GetProperty("insertId").GetInt64(), m.TryGetProperty("duplicate", out var dup) && dup.GetBoolean()));
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The gateway was killed: the device just loses its connection.
            }
        }

        public async Task CloseAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token); }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
        }

        public ValueTask DisposeAsync()
        {
            _socket.Abort();
            _socket.Dispose();
            return ValueTask.CompletedTask;
        }

        private async Task SendTextAsync(string text)
        {
            await _sendLock.WaitAsync();
            try { await _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None); }
            finally { _sendLock.Release(); }
        }

        private async Task<JsonElement?> ReceiveAsync()
        {
            var buffer = new byte[64 * 1024];
            var length = 0;
            WebSocketReceiveResult result;
            do
            {
                result = await _socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close) return null;
                length += result.Count;
            }
            while (!result.EndOfMessage);
            return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
        }
    }
}
