using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace IotWs.Dashboard.Tests.Stub;

/// <summary>
/// Serves the dashboard with a canned API, to look at the page before the real gateway
/// exists on this branch. Temporary: the real tests run against the gateway itself.
/// </summary>
public sealed class StubGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<WebSocket, byte> _sockets = new();
    private readonly ConcurrentDictionary<string, JsonObject> _calls = new();
    private readonly DateTime _started = DateTime.UtcNow;

    public string BaseUrl { get; private set; } = "";

    private StubGateway(WebApplication app) => _app = app;

    public static async Task<StubGateway> StartAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var stub = new StubGateway(app);
        app.UseWebSockets();
        app.MapDashboard();
        stub.MapApi();
        await app.StartAsync();
        stub.BaseUrl = app.Urls.First();
        return stub;
    }

    private static string? Role(HttpContext ctx) => ctx.Request.Headers.Authorization.ToString() switch
    {
        "Bearer viewer-key" => "viewer",
        "Bearer tech-key" => "technician",
        _ => null,
    };

    private static string Iso(DateTime t) => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'");

    private JsonObject Device(string id, string name, string location, string status, double t, double h, int errors) => new()
    {
        ["deviceId"] = id, ["name"] = name, ["location"] = location, ["status"] = status,
        ["statusSince"] = Iso(_started.AddMinutes(-30)),
        ["lastSeen"] = Iso(DateTime.UtcNow.AddSeconds(status == "online" ? -3 : -400)),
        ["bootId"] = 7,
        ["lastReading"] = new JsonObject { ["temperature"] = t, ["humidity"] = h, ["timestamp"] = Iso(DateTime.UtcNow), ["insertId"] = 100 },
        ["heartbeat"] = new JsonObject { ["uptime"] = 123456, ["freeMemory"] = 81234, ["rssi"] = -61, ["sensorErrors"] = errors },
    };

    private JsonArray Devices() =>
    [
        Device("esp32-bedroom", "Bedroom", "first floor", "online", 21.43, 48.2, 0),
        Device("esp32-cellar", "Cellar", "basement", "stale", 12.9, 81.0, 3),
        Device("esp32-garden", "Garden shed", "garden", "offline", 7.1, 92.5, 0),
    ];

    private void MapApi()
    {
        var api = _app.MapGroup("/api").AddEndpointFilter(async (ctx, next) =>
            Role(ctx.HttpContext) is null ? Results.Unauthorized() : await next(ctx));
        api.MapGet("/me", (HttpContext ctx) => Results.Json(new { name = "tester", role = Role(ctx) }));
        api.MapGet("/devices", () => Results.Text(Devices().ToJsonString(), "application/json"));
        api.MapGet("/devices/{id}", (string id) =>
        {
            var d = Devices().OfType<JsonObject>().FirstOrDefault(x => (string?)x["deviceId"] == id);
            if (d is null) return Results.NotFound();
            d = (JsonObject)d.DeepClone();
            d["presenceHistory"] = new JsonArray(
                new JsonObject { ["status"] = "online", ["reason"] = "connected", ["at"] = Iso(_started.AddMinutes(-30)) },
                new JsonObject { ["status"] = "offline", ["reason"] = "heartbeat timeout", ["at"] = Iso(_started.AddMinutes(-45)) });
            return Results.Text(d.ToJsonString(), "application/json");
        });
        api.MapGet("/devices/{id}/readings", (string id, DateTime from, DateTime to, string resolution, string? format) =>
        {
            from = from.ToUniversalTime();
            to = to.ToUniversalTime();
            var rows = new JsonArray();
            var step = resolution switch { "1m" => TimeSpan.FromMinutes(1), "1h" => TimeSpan.FromHours(1), _ => TimeSpan.FromSeconds(30) };
            var n = 0;
            for (var t = from; t < to; t += step, n++)
            {
                if (t > from.AddMinutes(20) && t < from.AddMinutes(26)) continue; // a gap, as when a device was offline
                var temp = 21 + 2 * Math.Sin(n / 40.0);
                var hum = 50 + 5 * Math.Cos(n / 55.0);
                rows.Add(resolution == "raw"
                    ? new JsonObject { ["insertId"] = n, ["deviceId"] = id, ["seq"] = n, ["bootId"] = 7, ["timestamp"] = Iso(t), ["temperature"] = Math.Round(temp, 1), ["humidity"] = Math.Round(hum, 1) }
                    : new JsonObject
                    {
                        ["bucket"] = Iso(t), ["count"] = 30,
                        ["temperatureMin"] = temp - 0.4, ["temperatureMax"] = temp + 0.5, ["temperatureAvg"] = temp,
                        ["humidityMin"] = hum - 2, ["humidityMax"] = hum + 1.5, ["humidityAvg"] = hum,
                    });
            }
            if (format == "csv")
            {
                var sb = new StringBuilder("timestamp,temperature,humidity\n");
                foreach (var r in rows) sb.Append($"{r!["timestamp"] ?? r["bucket"]},{r["temperature"] ?? r["temperatureAvg"]},{r["humidity"] ?? r["humidityAvg"]}\n");
                return Results.Text(sb.ToString(), "text/csv");
            }
            return Results.Text(rows.ToJsonString(), "application/json");
        });
        api.MapPost("/devices/{id}/rpc", async (string id, HttpContext ctx) =>
        {
            if (Role(ctx) == "viewer") return Results.StatusCode(403);
            var body = (await JsonNode.ParseAsync(ctx.Request.Body))!.AsObject();
            var callId = $"rpc_{_calls.Count + 1}";
            var now = DateTime.UtcNow;
            var call = new JsonObject
            {
                ["id"] = callId, ["deviceId"] = id, ["endpoint"] = (string?)body["endpoint"], ["status"] = "sent",
                ["caller"] = "tester", ["role"] = Role(ctx), ["createdAt"] = Iso(now), ["updatedAt"] = Iso(now),
                ["history"] = new JsonArray(new JsonObject { ["status"] = "queued", ["at"] = Iso(now) }, new JsonObject { ["status"] = "sent", ["at"] = Iso(now) }),
            };
            _calls[callId] = call;
            return Results.Text(call.ToJsonString(), "application/json", statusCode: 202);
        });
        api.MapGet("/rpc/{id}", (string id) =>
        {
            if (!_calls.TryGetValue(id, out var call)) return Results.NotFound();
            lock (call)
            {
                var age = DateTime.UtcNow - DateTime.Parse((string)call["createdAt"]!).ToUniversalTime();
                var reboot = (string?)call["endpoint"] == "reboot";
                var next = reboot ? (age.TotalSeconds > 3 ? "confirmed" : age.TotalSeconds > 1 ? "rebooting" : null)
                                  : (age.TotalSeconds > 1 ? "succeeded" : null);
                if (next is not null && (string?)call["status"] != next)
                {
                    if (next == "confirmed" && (string?)call["status"] == "sent") call["history"]!.AsArray().Add(new JsonObject { ["status"] = "rebooting", ["at"] = Iso(DateTime.UtcNow) });
                    call["status"] = next;
                    call["updatedAt"] = Iso(DateTime.UtcNow);
                    call["history"]!.AsArray().Add(new JsonObject { ["status"] = next, ["at"] = Iso(DateTime.UtcNow) });
                    call["result"] = reboot ? new JsonObject { ["message"] = "Rebooting in 3 seconds" } : new JsonObject { ["temperature"] = 21.4, ["humidity"] = 48.2, ["uptime"] = 1234, ["free_heap"] = 81234 };
                }
                return Results.Text(call.ToJsonString(), "application/json");
            }
        });
        api.MapGet("/rpc", () => Results.Text(new JsonArray(_calls.Values.OrderByDescending(c => (string?)c["createdAt"]).Select(c => c.DeepClone()).ToArray()).ToJsonString(), "application/json"));
        api.MapGet("/alerts", () => Results.Text(new JsonArray(
            new JsonObject { ["id"] = "a1", ["rule"] = "humidity_high", ["deviceId"] = "esp32-cellar", ["severity"] = "warning", ["state"] = "active", ["message"] = "Cellar humidity above 80 %RH", ["value"] = 81.0, ["raisedAt"] = Iso(DateTime.UtcNow.AddMinutes(-12)), ["clearedAt"] = null },
            new JsonObject { ["id"] = "a0", ["rule"] = "device_offline", ["deviceId"] = "esp32-bedroom", ["severity"] = "critical", ["state"] = "cleared", ["message"] = "Bedroom went offline", ["value"] = null, ["raisedAt"] = Iso(DateTime.UtcNow.AddHours(-3)), ["clearedAt"] = Iso(DateTime.UtcNow.AddHours(-2)) }).ToJsonString(), "application/json"));
        api.MapGet("/status", () => Results.Json(new
        {
            uptimeSeconds = (DateTime.UtcNow - _started).TotalSeconds + 7300,
            connections = new { total = 4, byClientType = new { microcontroller = 3, application = 1 } },
            messageRates = new { inPerSecond = 1.5, outPerSecond = 2.0 },
            database = new { sizeBytes = 3_400_000 },
            readings = new { total = 123_456 },
        }));

        _app.Map("/ws", async (HttpContext ctx) =>
        {
            if (!ctx.WebSockets.IsWebSocketRequest) { ctx.Response.StatusCode = 400; return; }
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            _sockets[ws] = 0;
            await SendAsync(ws, new JsonObject { ["type"] = "welcome", ["clientId"] = "c_1", ["authRequired"] = true, ["heartbeatInterval"] = 30000 });
            var buffer = new byte[65536];
            try
            {
                while (ws.State == WebSocketState.Open)
                {
                    var r = await ws.ReceiveAsync(buffer, ctx.RequestAborted);
                    if (r.MessageType == WebSocketMessageType.Close) break;
                    var msg = JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, r.Count))!.AsObject();
                    var type = (string?)msg["type"];
                    JsonObject? reply = type switch
                    {
                        "handshake" => new() { ["type"] = "handshake_response", ["success"] = true },
                        "auth" => new() { ["type"] = "auth_response", ["success"] = true, ["role"] = "viewer" },
                        "subscribe" => new() { ["type"] = "subscribe_response", ["success"] = true, ["topic"] = (string?)msg["topic"] },
                        "unsubscribe" => new() { ["type"] = "unsubscribe_response", ["success"] = true, ["topic"] = (string?)msg["topic"] },
                        _ => null,
                    };
                    if (reply is not null) await SendAsync(ws, reply);
                }
            }
            catch (OperationCanceledException) { }
            catch (WebSocketException) { }
            finally { _sockets.TryRemove(ws, out _); }
        });
    }

    private static Task SendAsync(WebSocket ws, JsonObject msg) =>
        ws.SendAsync(Encoding.UTF8.GetBytes(msg.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Publishes to every connected page, as the gateway would.</summary>
    public async Task PublishAsync(string topic, JsonObject data)
    {
        foreach (var ws in _sockets.Keys)
        {
            await SendAsync(ws, new JsonObject { ["type"] = "publish", ["topic"] = topic, ["data"] = data.DeepClone(), ["timestamp"] = Iso(DateTime.UtcNow) });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
