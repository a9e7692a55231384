using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace IotWs.LoadTest;

/// <summary>One protocol client of the load generator on a bare ClientWebSocket (a device or a dashboard).</summary>
internal sealed class LoadClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly SemaphoreSlim _sendLock = new(1);

    private LoadClient(string id) => Id = id;

    public string Id { get; }
    public bool IsOpen => _socket.State == WebSocketState.Open;

    /// <summary>Connects, sends handshake and auth back to back (as the seed clients do) and waits for auth_response.</summary>
    public static async Task<LoadClient> ConnectAsync(Uri uri, string id, string token, bool device, long bootId, CancellationToken ct)
    {
        var client = new LoadClient(id);
        client._socket.Options.KeepAliveInterval = TimeSpan.Zero;
        await client._socket.ConnectAsync(uri, ct);
        var handshake = device
            ? JsonSerializer.Serialize(new { type = "handshake", clientType = "microcontroller", capabilities = new[] { "sensor_data" }, version = "1.0.0", deviceId = id, bootId, heartbeatInterval = 30000 })
            : JsonSerializer.Serialize(new { type = "handshake", clientType = "application", capabilities = new[] { "dashboard" }, version = "1.0.0" });
        await client.SendAsync(Encoding.UTF8.GetBytes(handshake), ct);
        await client.SendAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { type = "auth", token })), ct);
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var length = await client.ReceiveAsync(buffer, ct);
            if (length < 0) throw new InvalidOperationException($"{id}: closed before auth_response");
            var message = JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement;
            if (message.GetProperty("type").GetString() != "auth_response") continue;
            if (!message.GetProperty("success").GetBoolean()) throw new InvalidOperationException($"{id}: auth failed: {message}");
            return client;
        }
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> utf8, CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct);
        try
        {
            await _socket.SendAsync(utf8, WebSocketMessageType.Text, true, ct);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Receives one whole message into the buffer; its length, or -1 when the connection ended.</summary>
    public async ValueTask<int> ReceiveAsync(byte[] buffer, CancellationToken ct)
    {
        var length = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            result = await _socket.ReceiveAsync(buffer.AsMemory(length), ct);
            if (result.MessageType == WebSocketMessageType.Close) return -1;
            length += result.Count;
            if (length == buffer.Length) throw new InvalidOperationException("message larger than the load generator's buffer");
        }
        while (!result.EndOfMessage);
        return length;
    }

    /// <summary>Reads messages until the connection ends or <paramref name="ct"/> fires, handing each to <paramref name="onMessage"/>.</summary>
    public async Task ReadLoopAsync(Action<ReadOnlyMemory<byte>> onMessage, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                var length = await ReceiveAsync(buffer, ct);
                if (length < 0) return;
                onMessage(buffer.AsMemory(0, length));
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async Task CloseAsync()
    {
        if (_socket.State != WebSocketState.Open) return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try { await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token); }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Abort();
        _socket.Dispose();
        _sendLock.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Opens many clients with bounded concurrency; returns them in order.</summary>
    public static Task<LoadClient[]> ConnectManyAsync(Uri uri, IReadOnlyList<(string Id, string Token)> identities, bool device, long bootId, int parallel, CancellationToken ct) =>
        ConnectManyAsync([uri], identities, device, bootId, parallel, ct);

    /// <summary>Opens many clients spread over several servers (client i on uris[i % count]); returns them in order.</summary>
    public static async Task<LoadClient[]> ConnectManyAsync(IReadOnlyList<Uri> uris, IReadOnlyList<(string Id, string Token)> identities, bool device, long bootId, int parallel, CancellationToken ct)
    {
        var clients = new LoadClient[identities.Count];
        using var gate = new SemaphoreSlim(parallel);
        await Task.WhenAll(identities.Select(async (identity, i) =>
        {
            await gate.WaitAsync(ct);
            try
            {
                clients[i] = await ConnectAsync(uris[i % uris.Count], identity.Id, identity.Token, device, bootId, ct);
            }
            finally
            {
                gate.Release();
            }
        }));
        return clients;
    }
}

/// <summary>The few fields the generator needs from a server message, read without building a document.</summary>
internal readonly record struct Reply(string? Type, bool Success, bool HasSuccess, long Seq, string? Topic, string? SensorId)
{
    private static readonly byte[] TypeName = "type"u8.ToArray();
    private static readonly byte[] SuccessName = "success"u8.ToArray();
    private static readonly byte[] SeqName = "seq"u8.ToArray();
    private static readonly byte[] TopicName = "topic"u8.ToArray();
    private static readonly byte[] SensorName = "sensor_id"u8.ToArray();

    public static Reply Parse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        string? type = null, topic = null, sensor = null;
        bool success = false, hasSuccess = false;
        long seq = -1;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName) continue;
            if (reader.ValueTextEquals(TypeName) && reader.CurrentDepth == 1) { reader.Read(); type = reader.GetString(); }
            else if (reader.ValueTextEquals(SuccessName) && reader.CurrentDepth == 1) { reader.Read(); hasSuccess = true; success = reader.TokenType == JsonTokenType.True; }
            else if (reader.ValueTextEquals(SeqName) && reader.CurrentDepth == 1) { reader.Read(); seq = reader.GetInt64(); }
            else if (reader.ValueTextEquals(TopicName) && reader.CurrentDepth == 1) { reader.Read(); topic = reader.GetString(); }
            else if (reader.ValueTextEquals(SensorName)) { reader.Read(); sensor = reader.TokenType == JsonTokenType.String ? reader.GetString() : null; }
        }
        return new Reply(type, success, hasSuccess, seq, topic, sensor);
    }
}

/// <summary>Latency samples (microseconds) and their percentiles.</summary>
internal sealed class Latencies
{
    private readonly List<int> _samples = [];

    public void Add(long micros)
    {
        lock (_samples) _samples.Add((int)Math.Min(micros, int.MaxValue));
    }

    public int Count { get { lock (_samples) return _samples.Count; } }

    /// <summary>The q-quantile in milliseconds (NaN without samples).</summary>
    public double At(double q)
    {
        int[] sorted;
        lock (_samples) sorted = [.. _samples];
        if (sorted.Length == 0) return double.NaN;
        Array.Sort(sorted);
        return sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))] / 1000.0;
    }

    public (double P50, double P99, double P999, double Max) Percentiles()
    {
        int[] sorted;
        lock (_samples) sorted = [.. _samples];
        if (sorted.Length == 0) return (double.NaN, double.NaN, double.NaN, double.NaN);
        Array.Sort(sorted);
        double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))] / 1000.0;
        return (At(0.50), At(0.99), At(0.999), sorted[^1] / 1000.0);
    }
}
