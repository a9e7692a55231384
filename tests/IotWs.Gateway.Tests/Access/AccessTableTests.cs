using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Requests;
using IotWs.Gateway.Rpc;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;

namespace IotWs.Gateway.Tests.Access;

/// <summary>
/// Issue 12 item 15: docs/access.md is the access table, and this walks it. Every mapped route (from the
/// EndpointDataSource) and every registered message type, request endpoint and RPC method must have a row;
/// every row is tried with no credential, a device token and each role, and the answer must match the cell.
/// </summary>
public sealed partial class AccessTableTests : IAsyncLifetime
{
    private static readonly string[] Columns = ["none", "device", "viewer", "technician", "admin"];
    private const string Own = "walk-dev";
    private const string Other = "walk-other";

    private TestGateway _gateway = null!;
    private readonly Dictionary<string, string> _keys = [];
    private string _deviceToken = "";

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _deviceToken = _gateway.AddDevice(Own);
        _gateway.AddDevice(Other);
        foreach (var role in Columns[2..]) _keys[role] = _gateway.AddKey(role);
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private sealed record Row(string Subject, IReadOnlyDictionary<string, string> Cells);

    [GeneratedRegex(@"^\|\s*`(?<subject>[^`]+)`\s*\|(?<cells>(?:[^|]*\|){5})\s*$")]
    private static partial Regex TableRow();

    /// <summary>The rows of the table in docs/access.md, by subject ("GET /api/status", "ws publish").</summary>
    private static Dictionary<string, Row> ReadTable()
    {
        var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, "docs", "access.md"));
        var header = Array.FindIndex(lines, l => l.StartsWith("| Route or message |", StringComparison.Ordinal));
        Assert.True(header >= 0, "docs/access.md has no '| Route or message |' table");
        Assert.Equal(Columns, lines[header].Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)[1..]);
        var rows = new Dictionary<string, Row>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(header + 2).TakeWhile(l => l.StartsWith('|')))
        {
            var m = TableRow().Match(line);
            Assert.True(m.Success, $"Not a table row of five cells: {line}");
            var cells = m.Groups["cells"].Value.Split('|', StringSplitOptions.TrimEntries)[..5];
            Assert.All(cells, c => Assert.Contains(c, new[] { "yes", "no", "own" }));
            Assert.True(rows.TryAdd(m.Groups["subject"].Value, new Row(m.Groups["subject"].Value, Columns.Zip(cells).ToDictionary(p => p.First, p => p.Second))),
                $"Two rows for {m.Groups["subject"].Value}");
        }
        return rows;
    }

    [Fact]
    public async Task Every_mapped_route_is_in_the_access_table_and_answers_each_role_as_the_table_says()
    {
        var table = ReadTable();
        var routes = _gateway.Service<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => $"{m} {Normalized(e.RoutePattern.RawText)}"))
            .ToHashSet(StringComparer.Ordinal);
        var documented = table.Keys.Where(k => !k.StartsWith("ws ", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        Assert.True(routes.SetEquals(documented),
            $"Routes without a row: {string.Join(", ", routes.Except(documented))}; rows without a route: {string.Join(", ", documented.Except(routes))}. Update docs/access.md.");

        var mismatches = new List<string>();
        foreach (var subject in routes.Order(StringComparer.Ordinal))
        {
            var space = subject.IndexOf(' ');
            var method = subject[..space] == "*" ? "GET" : subject[..space];
            var path = subject[(space + 1)..].Replace("/api/rpc/{id}", "/api/rpc/rpc_none").Replace("{id}", Own);
            foreach (var column in Columns)
            {
                using var http = _gateway.Http(column switch { "none" => null, "device" => _deviceToken, _ => _keys[column] });
                using var request = new HttpRequestMessage(new HttpMethod(method), path);
                if (method is "POST" or "PUT" or "PATCH") request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
                var response = await http.SendAsync(request);
                var allowed = response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden);
                if (allowed != (table[subject].Cells[column] == "yes"))
                    mismatches.Add($"{subject} as {column}: {(int)response.StatusCode}, table says {table[subject].Cells[column]}");
                if (!allowed) Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    // A group's "" route has the group prefix with a trailing '/': the same path.
    private static string Normalized(string? pattern) => pattern is null or "/" ? "/" : "/" + pattern.Trim('/');

    /// <summary>One message per WebSocket row: built for a target device (own or another), and the reply type to wait for (null: none expected).</summary>
    private sealed record Probe(Func<string, object> Message, string? Reply);

    private Dictionary<string, Probe> Probes() => new(StringComparer.Ordinal)
    {
        ["ws handshake"] = new(_ => new { type = "handshake", clientType = "application", version = "1.0.0" }, null),
        ["ws auth"] = new(_ => new { type = "auth", token = _keys["viewer"] }, null),
        ["ws heartbeat"] = new(_ => new { type = "heartbeat", uptime = 1 }, null),
        ["ws data dataType=sensor"] = new(_ => new { type = "data", dataType = "sensor", data = new { temperature = 20, humidity = 40 }, seq = 1, bootId = 1 }, "data_response"),
        ["ws sensor_data"] = new(_ => new { type = "sensor_data", temperature = 20, humidity = 40 }, "data_response"),
        ["ws data dataType=other"] = new(_ => new { type = "data", dataType = "application", data = new { n = 1 } }, "data_response"),
        ["ws request get_time"] = Request("get_time"),
        ["ws request get_config"] = Request("get_config"),
        ["ws request get_devices"] = Request("get_devices"),
        ["ws request get_readings"] = Request("get_readings"),
        ["ws request get_status"] = Request("get_status"),
        ["ws response"] = new(_ => new { type = "response", requestId = "nobody-asked", success = true, data = new { } }, null),
        ["ws rpc_call calculateAverage"] = new(_ => new { type = "rpc_call", requestId = "p", method = "calculateAverage", @params = new { values = new[] { 1, 2 } } }, "rpc_response"),
        ["ws rpc_call device.call"] = new(target => new { type = "rpc_call", requestId = "p", method = "device.call", @params = new { deviceId = target, endpoint = "ping", timeoutMs = 1000 } }, "rpc_response"),
        ["ws subscribe"] = new(target => new { type = "subscribe", topic = $"devices/{target}/readings" }, "subscribe_response"),
        ["ws unsubscribe"] = new(target => new { type = "unsubscribe", topic = $"devices/{target}/readings" }, "unsubscribe_response"),
        ["ws publish"] = new(target => new { type = "publish", topic = $"devices/{target}/telemetry", data = new { n = 1 } }, null),
        ["ws stream_start streamType=data"] = new(_ => new { type = "stream_start", streamId = "walk-" + Guid.NewGuid().ToString("N")[..8], streamType = "data" }, null),
        ["ws stream_start streamType=file_upload"] = new(_ => new { type = "stream_start", streamId = "walk-" + Guid.NewGuid().ToString("N")[..8], streamType = "file_upload", metadata = new { filename = "walk.bin" } }, null),
        ["ws stream_data"] = new(_ => new { type = "stream_data", streamId = "not-open", data = "aGk=", sequenceNumber = 0 }, null),
        ["ws stream_end"] = new(_ => new { type = "stream_end", streamId = "not-open" }, null),
    };

    private static Probe Request(string endpoint) =>
        new(target => new { type = "request", requestId = "p", endpoint, data = new { deviceId = target } }, "response");

    [Fact]
    public async Task Every_message_type_request_endpoint_and_rpc_method_is_in_the_access_table_and_answers_each_role_as_the_table_says()
    {
        var table = ReadTable();
        var rows = table.Keys.Where(k => k.StartsWith("ws ", StringComparison.Ordinal)).ToList();
        var types = _gateway.Service<IEnumerable<IMessageHandler>>().SelectMany(h => h.Types);
        var missing = types.Where(t => !rows.Any(r => r == "ws " + t || r.StartsWith("ws " + t + " ", StringComparison.Ordinal)))
            .Concat(_gateway.Service<IEnumerable<IRequestEndpoint>>().Select(e => "request " + e.Name)
                .Concat(_gateway.Service<IEnumerable<IPagedRequestEndpoint>>().Select(e => "request " + e.Name))
                .Where(r => !rows.Contains("ws " + r)))
            .Concat(_gateway.Service<IEnumerable<IRpcMethod>>().Select(m => "rpc_call " + m.Name).Where(r => !rows.Contains("ws " + r)))
            .ToList();
        Assert.True(missing.Count == 0, $"Registered but not in docs/access.md: {string.Join(", ", missing)}");
        var probes = Probes();
        Assert.True(rows.All(probes.ContainsKey), $"Rows without a probe in this test: {string.Join(", ", rows.Where(r => !probes.ContainsKey(r)))}");

        var mismatches = new List<string>();
        foreach (var subject in rows)
        {
            foreach (var column in Columns)
            {
                var cell = table[subject].Cells[column];
                var allowed = await AllowedAsync(column, probes[subject], Own);
                if (allowed != (cell is "yes" or "own")) mismatches.Add($"{subject} as {column} (own device): {(allowed ? "allowed" : "refused")}, table says {cell}");
                if (cell == "own" && await AllowedAsync(column, probes[subject], Other))
                    mismatches.Add($"{subject} as {column} about another device: allowed, table says own");
            }
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    /// <summary>Sends the probe on a fresh connection of that column, then a heartbeat as a fence; refused means forbidden, not_authenticated or 4401.</summary>
    private async Task<bool> AllowedAsync(string column, Probe probe, string target)
    {
        await using var client = column switch
        {
            "none" => await _gateway.ConnectAsync(),
            "device" => await _gateway.ConnectDeviceAsync(Own, _deviceToken),
            _ => await _gateway.ConnectWithKeyAsync(_keys[column]),
        };
        if (column == "none") await client.ReceiveAsync("welcome");
        int before;
        lock (client.RawMessages) before = client.RawMessages.Count;
        await client.SendAsync(probe.Message(target));
        await client.SendAsync(new { type = "heartbeat", timestamp = 424242 });
        try
        {
            await client.ReceiveAsync("heartbeat_response", where: m => m.TryGetProperty("timestamp", out var t) && t.ToString() == "424242");
            if (Refused(client, before)) return false;
            if (probe.Reply is { } reply) return !IsRefusal(await client.ReceiveAsync(reply));
            return true;
        }
        catch (InvalidOperationException) when (client.State != System.Net.WebSockets.WebSocketState.Open)
        {
            return await client.WaitClosedAsync() != 4401;
        }
    }

    private static bool Refused(TestClient client, int from)
    {
        lock (client.RawMessages)
        {
            return client.RawMessages.Skip(from).Select(m => JsonDocument.Parse(m).RootElement).Any(IsRefusal);
        }
    }

    private static bool IsRefusal(JsonElement message) =>
        new[] { "code", "error" }.Any(f => message.TryGetProperty(f, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is "forbidden" or "not_authenticated");
}
