using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>
/// A device on a bare ClientWebSocket that streams seq'd readings with a window of unacknowledged ones, as the firmware
/// keeps them. When its link is lost it connects again (to the next URL of its list) and first replays every reading
/// that was not acknowledged. It records every acknowledgement: seq → insertId.
/// </summary>
internal sealed class StreamingDevice(string deviceId, string token, long bootId, IReadOnlyList<Uri> urls, int window = 32)
{
    private readonly ConcurrentDictionary<long, long> _acked = new();
    private readonly ConcurrentDictionary<long, byte> _unacked = new();
    private readonly ConcurrentQueue<string> _problems = new();
    private readonly SemaphoreSlim _progress = new(0);
    private readonly long _firstTimestamp = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds();
    private long _sent;
    private int _links;
    private long _ackedOnLink;

    public string DeviceId => deviceId;

    /// <summary>seq → insertId of every acknowledged reading (the first answer; a later one that differs is a problem).</summary>
    public IReadOnlyDictionary<long, long> Acked => _acked;

    /// <summary>The highest seq taken (readings 1..Sent were all sent at least once).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    public int Unacked => _unacked.Count;

    /// <summary>Connections that authenticated so far.</summary>
    public int Links => Volatile.Read(ref _links);

    /// <summary>Acknowledgements received on the current connection.</summary>
    public long AckedOnLink => Interlocked.Read(ref _ackedOnLink);

    /// <summary>Failed acks, insert ids that changed, refused auth: anything that should never happen.</summary>
    public IReadOnlyCollection<string> Problems => _problems;

    /// <summary>
    /// Streams until <paramref name="stopTaking"/> fires, then keeps the link (or reconnects) until every reading is
    /// acknowledged, and closes. Gives up after <paramref name="giveUpAfter"/>.
    /// </summary>
    public async Task RunAsync(TimeSpan giveUpAfter, CancellationToken stopTaking)
    {
        var deadline = DateTime.UtcNow + giveUpAfter;
        for (var next = 0; ; next++)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{deviceId}: {Unacked} readings still unacknowledged after {giveUpAfter}");
            using var socket = new ClientWebSocket();
            try
            {
                await ConnectAsync(socket, urls[next % urls.Count]);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or HttpRequestException)
            {
                // Nobody answered or the link broke during the handshake: the next URL after a short backoff.
                await Task.Delay(50);
                continue;
            }
            Interlocked.Increment(ref _links);
            Interlocked.Exchange(ref _ackedOnLink, 0);
            var reader = ReadAcksAsync(socket);
            try
            {
                foreach (var seq in _unacked.Keys.Order()) await SendReadingAsync(socket, seq);
                while (!reader.IsCompleted)
                {
                    if (stopTaking.IsCancellationRequested)
                    {
                        if (_unacked.IsEmpty)
                        {
                            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
                            await reader.WaitAsync(TimeSpan.FromSeconds(5));
                            return;
                        }
                    }
                    else if (_unacked.Count < window)
                    {
                        var seq = Interlocked.Increment(ref _sent);
                        _unacked[seq] = 0;
                        await SendReadingAsync(socket, seq);
                        continue;
                    }
                    await _progress.WaitAsync(50);
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The node went away under us: reconnect and replay.
            }
            await Task.Delay(50);
        }
    }

    private async Task ConnectAsync(ClientWebSocket socket, Uri url)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await socket.ConnectAsync(url, timeout.Token);
        await SendTextAsync(socket, JsonSerializer.Serialize(new { type = "handshake", clientType = "microcontroller", capabilities = new[] { "sensor_data" }, version = "1.0.0", deviceId, bootId, heartbeatInterval = 30000 }));
        await SendTextAsync(socket, JsonSerializer.Serialize(new { type = "auth", token }));
        while (await ReceiveAsync(socket, timeout.Token) is { } message)
        {
            if (message.GetProperty("type").GetString() != "auth_response") continue;
            if (!message.GetProperty("success").GetBoolean())
            {
                _problems.Enqueue($"auth refused on {url}: {message}");
                throw new WebSocketException("auth refused");
            }
            return;
        }
        throw new WebSocketException("closed before auth_response");
    }

    private async Task ReadAcksAsync(ClientWebSocket socket)
    {
        try
        {
            while (await ReceiveAsync(socket, CancellationToken.None) is { } m)
            {
                if (m.GetProperty("type").GetString() != "data_response") continue;
                if (!m.GetProperty("success").GetBoolean())
                {
                    _problems.Enqueue("refused: " + m);
                    continue;
                }
                var seq = m.GetProperty("seq").GetInt64();
                var insertId = m.GetProperty("insertId").GetInt64();
                var first = _acked.GetOrAdd(seq, insertId);
                if (first != insertId) _problems.Enqueue($"seq {seq} acked as insert {first}, then as {insertId}");
                _unacked.TryRemove(seq, out _);
                Interlocked.Increment(ref _ackedOnLink);
                _progress.Release();
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The link is gone; RunAsync reconnects.
        }
        finally
        {
            _progress.Release();
        }
    }

    private Task SendReadingAsync(ClientWebSocket socket, long seq) =>
        SendTextAsync(socket, "{\"type\":\"data\",\"dataType\":\"sensor\",\"seq\":" + seq.ToString(CultureInfo.InvariantCulture)
            + ",\"bootId\":" + bootId.ToString(CultureInfo.InvariantCulture)
            + ",\"timestamp\":" + (_firstTimestamp + seq).ToString(CultureInfo.InvariantCulture)
            + ",\"data\":{\"temperature\":" + (20 + seq % 10).ToString(CultureInfo.InvariantCulture)
            + ",\"humidity\":" + (40 + seq % 20).ToString(CultureInfo.InvariantCulture) + "}}");

    private static async Task SendTextAsync(ClientWebSocket socket, string text) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task<JsonElement?> ReceiveAsync(ClientWebSocket socket, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        var length = 0;
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), ct);
            if (result.MessageType == WebSocketMessageType.Close) return null;
            length += result.Count;
        }
        while (!result.EndOfMessage);
        return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
    }
}
