using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IotWs.Firmware.Tests.Fakes;

/// <summary>
/// Just enough of the gateway, on real Kestrel at 127.0.0.1:0, to test the host transport and the
/// simulated fleet over real sockets without the real gateway: welcome, handshake, token auth,
/// heartbeats, and readings stored once per (device, bootId, seq) with duplicate answers.
/// </summary>
internal sealed class MiniGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, string> _tokens;
    private readonly ConcurrentDictionary<(string Device, long Boot, long Seq), long> _stored = new();
    private readonly ConcurrentDictionary<string, Connection> _connections = new();
    private readonly ConcurrentQueue<JsonObject> _received = new();
    private long _nextInsertId;
    private int _accepted;

    private MiniGateway(WebApplication app, Dictionary<string, string> tokens)
    {
        _app = app;
        _tokens = tokens;
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>WebSocket connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    public IEnumerable<JsonObject> Received => _received;

    public static async Task<MiniGateway> StartAsync(Dictionary<string, string> tokens)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var gateway = new MiniGateway(app, tokens);
        app.UseWebSockets();
        app.Map("/ws", gateway.AcceptAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        gateway.Url = new Uri(address.Replace("http://", "ws://", StringComparison.Ordinal) + "/ws");
        return gateway;
    }

    /// <summary>The seqs stored for a device's boot, in order.</summary>
    public List<long> StoredSeqs(string deviceId, long bootId) =>
        [.. _stored.Keys.Where(k => k.Device == deviceId && k.Boot == bootId).Select(k => k.Seq).Order()];

    public int StoredCount(string deviceId) => _stored.Keys.Count(k => k.Device == deviceId);

    /// <summary>Sends a request to a connected, authenticated device.</summary>
    public Task SendRequestAsync(string deviceId, string requestId, string endpoint) =>
        _connections[deviceId].SendAsync(new JsonObject { ["type"] = "request", ["requestId"] = requestId, ["endpoint"] = endpoint, ["data"] = new JsonObject() });

    /// <summary>Closes a device's connection with a status, as the real gateway does with 1013 or 4409.</summary>
    public Task CloseDeviceAsync(string deviceId, int status) => _connections[deviceId].CloseAsync(status);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task AcceptAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }
        Interlocked.Increment(ref _accepted);
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        using var connection = new Connection(socket);
        await connection.SendAsync(new JsonObject { ["type"] = "welcome", ["clientId"] = "c_" + Accepted, ["authRequired"] = true, ["protocolVersion"] = 1, ["heartbeatInterval"] = 30000 });
        string? deviceId = null;
        var authenticated = false;
        try
        {
            while (await connection.ReceiveAsync() is { } message)
            {
                _received.Enqueue(message);
                switch ((string?)message["type"])
                {
                    case "handshake":
                        deviceId = (string?)message["deviceId"];
                        await connection.SendAsync(new JsonObject { ["type"] = "handshake_response", ["success"] = true, ["protocolVersion"] = 1 });
                        break;
                    case "auth":
                        if (deviceId is not null && _tokens.TryGetValue(deviceId, out var token) && token == (string?)message["token"])
                        {
                            authenticated = true;
                            _connections[deviceId] = connection;
                            await connection.SendAsync(new JsonObject { ["type"] = "auth_response", ["success"] = true, ["role"] = "device", ["deviceId"] = deviceId });
                        }
                        else
                        {
                            await connection.SendAsync(new JsonObject { ["type"] = "auth_response", ["success"] = false, ["error"] = "auth_failed", ["message"] = "bad token" });
                            await connection.CloseAsync(4401);
                            return;
                        }
                        break;
                    case "heartbeat":
                        await connection.SendAsync(new JsonObject { ["type"] = "heartbeat_response", ["timestamp"] = message["timestamp"]?.DeepClone() });
                        break;
                    case "data" when authenticated:
                        await connection.SendAsync(Store(deviceId!, message));
                        break;
                }
            }
        }
        catch (WebSocketException)
        {
            // The device dropped the link; that is what some tests do on purpose.
        }
    }

    private JsonObject Store(string deviceId, JsonObject message)
    {
        if (message["batch"] is JsonArray batch)
        {
            var results = new JsonArray();
            foreach (var item in batch.OfType<JsonObject>())
            {
                var (insertId, duplicate) = StoreOne(deviceId, (long)item["bootId"]!, (long)item["seq"]!);
                results.Add(new JsonObject { ["seq"] = (long)item["seq"]!, ["insertId"] = insertId, ["duplicate"] = duplicate ? true : null });
            }
            return new JsonObject { ["type"] = "data_response", ["success"] = true, ["results"] = results };
        }
        var seq = (long)message["seq"]!;
        var (id, dup) = StoreOne(deviceId, (long)message["bootId"]!, seq);
        return new JsonObject { ["type"] = "data_response", ["success"] = true, ["insertId"] = id, ["seq"] = seq, ["duplicate"] = dup ? true : null };
    }

    private (long InsertId, bool Duplicate) StoreOne(string deviceId, long bootId, long seq)
    {
        var fresh = Interlocked.Increment(ref _nextInsertId);
        var id = _stored.GetOrAdd((deviceId, bootId, seq), fresh);
        return (id, id != fresh);
    }

    /// <summary>One device's socket with serialized sends.</summary>
    private sealed class Connection(WebSocket socket) : IDisposable
    {
        private readonly SemaphoreSlim _sendLock = new(1, 1);

        public void Dispose() => _sendLock.Dispose();

        public async Task SendAsync(JsonObject message)
        {
            await _sendLock.WaitAsync();
            try
            {
                await socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        public async Task CloseAsync(int status)
        {
            await _sendLock.WaitAsync();
            try
            {
                await socket.CloseOutputAsync((WebSocketCloseStatus)status, null, CancellationToken.None);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        public async Task<JsonObject?> ReceiveAsync()
        {
            var buffer = new byte[16384];
            using var text = new MemoryStream();
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close) return null;
                text.Write(buffer, 0, result.Count);
                if (result.EndOfMessage) return JsonNode.Parse(text.ToArray()) as JsonObject;
            }
        }
    }
}
