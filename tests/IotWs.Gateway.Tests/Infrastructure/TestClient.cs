using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace IotWs.Gateway.Tests.Infrastructure;

/// <summary>A real ClientWebSocket that records every message the gateway sends, for assertions by type.</summary>
public sealed class TestClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly Channel<JsonElement> _inbox = Channel.CreateUnbounded<JsonElement>();
    private readonly List<JsonElement> _skipped = [];
    private readonly Task _reader;
    private readonly TaskCompletionSource<WebSocketCloseStatus?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TestClient(ClientWebSocket socket)
    {
        _socket = socket;
        _reader = Task.Run(ReadLoop);
    }

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public WebSocketState State => _socket.State;
    public List<string> RawMessages { get; } = [];

    public static async Task<TestClient> ConnectAsync(Uri uri)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(uri, CancellationToken.None);
        return new TestClient(socket);
    }

    /// <summary>Connects, handshakes and authenticates as a device; returns the client after auth_response success.</summary>
    public static Task<TestClient> ConnectDeviceAsync(Uri uri, string deviceId, string token, long bootId = 1, int heartbeatMs = 30000) =>
        ConnectAuthenticatedAsync(uri, new { type = "handshake", clientType = "microcontroller", capabilities = new[] { "sensor_data" }, version = "1.0.0", deviceId, bootId, heartbeatInterval = heartbeatMs }, token);

    /// <summary>Connects, handshakes and authenticates as an application (a dashboard or a technician's tool) with an API key.</summary>
    public static Task<TestClient> ConnectWithKeyAsync(Uri uri, string key) =>
        ConnectAuthenticatedAsync(uri, new { type = "handshake", clientType = "application", capabilities = new[] { "dashboard" }, version = "1.0.0" }, key);

    private static async Task<TestClient> ConnectAuthenticatedAsync(Uri uri, object handshake, string token)
    {
        var client = await ConnectAsync(uri);
        await client.ReceiveAsync("welcome");
        await client.SendAsync(handshake);
        await client.SendAsync(new { type = "auth", token });
        await client.ReceiveAsync("handshake_response");
        var auth = await client.ReceiveAsync("auth_response");
        Assert.True(auth.GetProperty("success").GetBoolean(), auth.ToString());
        return client;
    }

    public Task SendAsync(object message) => SendTextAsync(JsonSerializer.Serialize(message));

    public Task SendTextAsync(string text) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Sends bytes as one text frame as they are (the client does not check their UTF-8).</summary>
    public Task SendRawTextAsync(byte[] bytes) =>
        _socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);

    public Task SendBinaryAsync(byte[] bytes) =>
        _socket.SendAsync(bytes, WebSocketMessageType.Binary, true, CancellationToken.None);

    /// <summary>The next message of this type (others are kept for later calls).</summary>
    public async Task<JsonElement> ReceiveAsync(string type, TimeSpan? timeout = null, Func<JsonElement, bool>? where = null)
    {
        lock (_skipped)
        {
            var i = _skipped.FindIndex(m => Is(m, type, where));
            if (i >= 0)
            {
                var found = _skipped[i];
                _skipped.RemoveAt(i);
                return found;
            }
        }
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            while (true)
            {
                var message = await _inbox.Reader.ReadAsync(cts.Token);
                if (Is(message, type, where)) return message;
                lock (_skipped) _skipped.Add(message);
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No '{type}' message within {timeout ?? DefaultTimeout}. Received: {string.Join(" | ", RawMessages.TakeLast(10))}");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"Connection closed ({_socket.CloseStatus} {_socket.CloseStatusDescription}) before a '{type}' message. Received: {string.Join(" | ", RawMessages.TakeLast(10))}");
        }
    }

    /// <summary>True when no message of this type arrives within the wait.</summary>
    public async Task<bool> NothingOfTypeAsync(string type, TimeSpan wait)
    {
        try
        {
            await ReceiveAsync(type, wait);
            return false;
        }
        catch (TimeoutException)
        {
            return true;
        }
    }

    /// <summary>Waits for the gateway to close the connection and returns its close code.</summary>
    public async Task<int?> WaitClosedAsync(TimeSpan? timeout = null)
    {
        var status = await _closed.Task.WaitAsync(timeout ?? DefaultTimeout);
        return status is null ? null : (int)status.Value;
    }

    public string? CloseDescription => _socket.CloseStatusDescription;

    private static bool Is(JsonElement m, string type, Func<JsonElement, bool>? where) =>
        m.TryGetProperty("type", out var t) && t.GetString() == type && (where is null || where(m));

    private async Task ReadLoop()
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                var length = 0;
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _closed.TrySetResult(result.CloseStatus);
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    }
                    break;
                }
                var text = Encoding.UTF8.GetString(buffer, 0, length);
                lock (RawMessages) RawMessages.Add(text);
                _inbox.Writer.TryWrite(JsonDocument.Parse(text).RootElement.Clone());
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            _closed.TrySetResult(null);
        }
        finally
        {
            _inbox.Writer.TryComplete();
        }
    }

    /// <summary>Drops the TCP connection without a close handshake (a device losing power).</summary>
    public void Abort() => _socket.Abort();

    public async Task CloseAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _socket.Abort();
        _socket.Dispose();
        try { await _reader; } catch (Exception e) when (e is WebSocketException or ObjectDisposedException) { }
    }
}
