using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using IotWs.Gateway.Wire;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace IotWs.LoadTest;

/// <summary>
/// The baseline: a bare Kestrel WebSocket endpoint that parses each message as the gateway does (a JsonDocument)
/// and answers handshake, auth and data with replies of the same shape and size as the gateway's, storing nothing.
/// Run as a child process ("baseline-server") so the load generator measures it exactly like the gateway.
/// </summary>
internal static class BaselineServer
{
    private static long _insertId;

    public static async Task<int> RunAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        app.UseWebSockets();
        app.Map("/ws", HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Console.WriteLine($"Now listening on: {address}");
        await app.WaitForShutdownAsync();
        return 0;
    }

    private static async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var clientId = "c_" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.NextInt64()));
        await SendAsync(socket, w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "welcome");
            w.WriteString("clientId", clientId);
            w.WriteBoolean("authRequired", true);
            w.WriteNumber("protocolVersion", 1);
            w.WriteString("serverTime", WireJson.Time(DateTimeOffset.UtcNow));
            w.WriteNumber("heartbeatInterval", 30000);
            w.WriteNumber("maxPayloadSize", 65536);
            w.WriteEndObject();
        });
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        string? deviceId = null;
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                if (result.MessageType == WebSocketMessageType.Close) break;
                using var doc = JsonDocument.Parse(buffer.AsMemory(0, length));
                var m = doc.RootElement;
                switch (m.GetProperty("type").GetString())
                {
                    case "handshake":
                        deviceId = m.TryGetProperty("deviceId", out var d) ? d.GetString() : null;
                        await SendAsync(socket, w =>
                        {
                            w.WriteStartObject();
                            w.WriteString("type", "handshake_response");
                            w.WriteBoolean("success", true);
                            w.WriteString("clientId", clientId);
                            w.WriteNumber("protocolVersion", 1);
                            w.WriteEndObject();
                        });
                        break;
                    case "auth":
                        await SendAsync(socket, w =>
                        {
                            w.WriteStartObject();
                            w.WriteString("type", "auth_response");
                            w.WriteBoolean("success", true);
                            w.WriteString("clientId", clientId);
                            w.WriteString("role", deviceId is null ? "viewer" : "device");
                            if (deviceId is not null) w.WriteString("deviceId", deviceId);
                            w.WriteEndObject();
                        });
                        break;
                    case "data":
                        // Read what the gateway reads, then answer an ack of the same size.
                        var data = m.GetProperty("data");
                        _ = data.GetProperty("temperature").GetDouble() + data.GetProperty("humidity").GetDouble();
                        var seq = m.GetProperty("seq").GetInt64();
                        var id = Interlocked.Increment(ref _insertId);
                        await SendAsync(socket, w =>
                        {
                            w.WriteStartObject();
                            w.WriteString("type", "data_response");
                            w.WriteBoolean("success", true);
                            w.WriteNumber("seq", seq);
                            w.WriteNumber("insertId", id);
                            w.WriteString("timestamp", WireJson.Time(DateTimeOffset.UtcNow));
                            w.WriteEndObject();
                        });
                        break;
                }
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

    private static Task SendAsync(WebSocket socket, Action<Utf8JsonWriter> write) =>
        socket.SendAsync(WireJson.Write(write), WebSocketMessageType.Text, true, CancellationToken.None);
}
