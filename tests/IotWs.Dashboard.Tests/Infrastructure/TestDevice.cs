using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace IotWs.Dashboard.Tests.Infrastructure;

/// <summary>
/// A device as the gateway sees one: a raw ClientWebSocket speaking protocol v1 with a device
/// token (welcome → handshake with deviceId/bootId/heartbeatInterval → auth), sending readings
/// and answering the gateway's requests. Silent unless told to send heartbeats.
/// </summary>
public sealed class TestDevice : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly string[] Capabilities = ["sensor_data", "rpc"];

    private readonly Uri _ws;
    private ClientWebSocket? _socket;
    private Channel<JsonElement> _inbox = Channel.CreateUnbounded<JsonElement>();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private CancellationTokenSource _heartbeats = new();
    private long _seq;

    public TestDevice(Uri ws, string deviceId, string token, long bootId = 1, int heartbeatMs = 30_000)
    {
        _ws = ws;
        DeviceId = deviceId;
        Token = token;
        BootId = bootId;
        HeartbeatMs = heartbeatMs;
    }

    public string DeviceId { get; }
    public string Token { get; }
    public long BootId { get; private set; }
    public int HeartbeatMs { get; }

    /// <summary>Answers a request from the gateway: endpoint and data in, response data out.</summary>
    public Func<string, JsonElement, object?> Answer { get; set; } = (endpoint, _) => endpoint switch
    {
        "ping" => new { pong = true },
        "reboot" => new { message = "Rebooting in 3 seconds" },
        "get_sensor_status" => new { temperature = 21.5, humidity = 45.0, uptime = 1234, free_heap = 80_000 },
        _ => new { ok = true },
    };

    /// <summary>Set once the device has answered a reboot request.</summary>
    public TaskCompletionSource RebootAnswered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task ConnectAsync()
    {
        _socket = new ClientWebSocket();
        _inbox = Channel.CreateUnbounded<JsonElement>();
        await _socket.ConnectAsync(_ws, CancellationToken.None);
        _ = Task.Run(() => ReadLoop(_socket, _inbox));
        await ReceiveAsync("welcome");
        await SendAsync(new
        {
            type = "handshake", clientType = "microcontroller", capabilities = Capabilities,
            version = "1.0.0", deviceId = DeviceId, bootId = BootId, heartbeatInterval = HeartbeatMs,
        });
        await SendAsync(new { type = "auth", token = Token });
        var auth = await ReceiveAsync("auth_response");
        if (!auth.GetProperty("success").GetBoolean())
        {
            throw new InvalidOperationException($"Device {DeviceId} was refused: {auth}");
        }
    }

    /// <summary>Sends one reading and returns its insertId once the gateway has committed it.</summary>
    public async Task<long> SendReadingAsync(double temperature, double humidity, DateTimeOffset? at = null)
    {
        var seq = ++_seq;
        await SendAsync(new
        {
            type = "data", dataType = "sensor", seq, bootId = BootId,
            timestamp = (at ?? DateTimeOffset.UtcNow).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"),
            data = new { temperature, humidity, sensor_id = DeviceId + "-dht22", location = "test bench" },
        });
        var ack = await ReceiveAsync("data_response", m => m.TryGetProperty("seq", out var s) && s.GetInt64() == seq);
        if (!ack.GetProperty("success").GetBoolean())
        {
            throw new InvalidOperationException($"Reading {seq} was refused: {ack}");
        }
        return ack.GetProperty("insertId").GetInt64();
    }

    /// <summary>Sends heartbeats at the declared interval until <see cref="StopHeartbeats"/>.</summary>
    public void StartHeartbeats()
    {
        _heartbeats = new CancellationTokenSource();
        var token = _heartbeats.Token;
        _ = Task.Run(async () =>
        {
            while (!token.IsCancellationRequested)
            {
                try
                {
                    await SendAsync(new { type = "heartbeat", timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), uptime = 1000, freeMemory = 80_000, rssi = -60, sensorErrors = 0 });
                    await Task.Delay(HeartbeatMs, token);
                }
                catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
                {
                    return;
                }
            }
        });
    }

    public void StopHeartbeats() => _heartbeats.Cancel();

    /// <summary>One heartbeat with this count of failed sensor reads since boot.</summary>
    public Task SendHeartbeatAsync(long sensorErrors) =>
        SendAsync(new { type = "heartbeat", timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), uptime = 1000, freeMemory = 80_000, rssi = -60, sensorErrors });

    /// <summary>Drops the connection without a close handshake, like a board that restarts.</summary>
    public void Drop()
    {
        StopHeartbeats();
        _socket?.Abort();
    }

    /// <summary>Reconnects as the next boot: bootId + 1, sequence numbers from 1 again.</summary>
    public async Task RebootAsync()
    {
        Drop();
        BootId++;
        _seq = 0;
        await ConnectAsync();
    }

    private async Task SendAsync(object message)
    {
        var socket = _socket ?? throw new InvalidOperationException("Not connected.");
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(message));
        await _sendLock.WaitAsync();
        try
        {
            await socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task<JsonElement> ReceiveAsync(string type, Func<JsonElement, bool>? where = null)
    {
        using var timeout = new CancellationTokenSource(Wait);
        try
        {
            while (true)
            {
                var m = await _inbox.Reader.ReadAsync(timeout.Token);
                if (m.TryGetProperty("type", out var t) && t.GetString() == type && (where is null || where(m)))
                {
                    return m;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"Device {DeviceId}: no '{type}' within {Wait}.");
        }
    }

    private async Task ReadLoop(ClientWebSocket socket, Channel<JsonElement> inbox)
    {
        var buffer = new byte[1 << 16];
        try
        {
            while (true)
            {
                using var text = new MemoryStream();
                WebSocketReceiveResult r;
                do
                {
                    r = await socket.ReceiveAsync(buffer, CancellationToken.None);
                    text.Write(buffer, 0, r.Count);
                }
                while (!r.EndOfMessage);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                var message = JsonDocument.Parse(text.ToArray()).RootElement.Clone();
                if (message.GetProperty("type").GetString() == "request")
                {
                    await AnswerAsync(message);
                }
                else
                {
                    inbox.Writer.TryWrite(message);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            inbox.Writer.TryComplete();
        }
    }

    private async Task AnswerAsync(JsonElement request)
    {
        var endpoint = request.GetProperty("endpoint").GetString() ?? "";
        var data = request.TryGetProperty("data", out var d) ? d : default;
        await SendAsync(new { type = "response", requestId = request.GetProperty("requestId").GetString(), success = true, data = Answer(endpoint, data) });
        if (endpoint == "reboot")
        {
            RebootAnswered.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        StopHeartbeats();
        if (_socket is { State: WebSocketState.Open })
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        }
        _socket?.Dispose();
        _heartbeats.Dispose();
        _sendLock.Dispose();
    }
}
