using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Status;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Status;

/// <summary>
/// Issue 12 item 12 for get_status: it is one object, not a list to page, but some of its sections list what grows
/// with the deployment. Over the WebSocket it is cut to fit maxPayloadSize, and says what was cut.
/// </summary>
public sealed class StatusPagingTests
{
    [Fact]
    public async Task Get_status_with_long_pubsub_listings_fits_max_payload_size_and_names_what_it_cut()
    {
        const int maxPayloadSize = 4096;
        await using var gateway = await TestGateway.StartAsync(null, $"MaxPayloadSize={maxPayloadSize}");
        await using var technician = await gateway.ConnectWithKeyAsync(gateway.AddKey("technician"));
        // 60 filters of ~70 characters: the pubsub section's filter listing alone is over 5 KB.
        for (var i = 0; i < 60; i++)
        {
            var topic = $"devices/esp-with-a-rather-long-name-{i:D2}/readings/and/some/more/levels/+";
            await technician.SendAsync(new { type = "subscribe", topic });
            var ack = await technician.ReceiveAsync("subscribe_response");
            Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        }
        var whole = Encoding.UTF8.GetByteCount(WireJsonText(gateway.Service<GatewayStatus>().GetStatus()));
        Assert.True(whole > maxPayloadSize, $"the status is only {whole} bytes: the test needs more to cut");

        await technician.SendAsync(new { type = "request", requestId = "s1", endpoint = "get_status", data = new { } });
        var response = await technician.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == "s1");
        Assert.True(response.GetProperty("success").GetBoolean(), response.ToString());
        string raw;
        lock (technician.RawMessages) raw = technician.RawMessages.Single(m => m.Contains("\"requestId\":\"s1\"", StringComparison.Ordinal));
        Assert.True(Encoding.UTF8.GetByteCount(raw) <= maxPayloadSize, $"a response of {Encoding.UTF8.GetByteCount(raw)} bytes");

        var data = response.GetProperty("data");
        Assert.Equal(60, data.GetProperty("truncated").GetProperty("pubsub.subscribersByFilter").GetInt32());
        Assert.True(data.GetProperty("pubsub").GetProperty("subscribersByFilter").GetArrayLength() < 60);
        // The counters are all still there.
        Assert.True(data.GetProperty("connections").GetProperty("total").GetInt32() >= 1);
        Assert.True(data.TryGetProperty("readings", out _));
    }

    [Fact]
    public void A_status_that_fits_is_sent_whole_and_one_with_a_long_map_is_cut_to_the_budget()
    {
        var small = Status(devices: 3);
        var json = GetStatusEndpoint.Fit(small, 8192);
        Assert.False(JsonDocument.Parse(json).RootElement.TryGetProperty("truncated", out _));

        // A cluster of 5,000 connected devices: the owner map is an object of one member per device.
        var large = Status(devices: 5000);
        json = GetStatusEndpoint.Fit(large, 8192);
        Assert.True(json.Length <= 8192, $"{json.Length} bytes");
        var root = JsonDocument.Parse(json).RootElement;
        Assert.Equal(5000, root.GetProperty("truncated").GetProperty("cluster.devices").GetInt32());
        Assert.InRange(root.GetProperty("cluster").GetProperty("devices").EnumerateObject().Count(), 1, 4999);
        Assert.Equal("node-a", root.GetProperty("cluster").GetProperty("nodeId").GetString());
        Assert.Equal(5000, root.GetProperty("presence").GetProperty("online").GetInt32());
    }

    private static JsonObject Status(int devices)
    {
        var owners = new JsonObject();
        for (var i = 0; i < devices; i++) owners[$"esp-{i:D5}"] = i % 2 == 0 ? "node-a" : "node-b";
        return new JsonObject
        {
            ["uptimeSeconds"] = 5,
            ["presence"] = new JsonObject { ["online"] = devices },
            ["cluster"] = new JsonObject
            {
                ["nodeId"] = "node-a",
                ["nodes"] = new JsonArray(new JsonObject { ["nodeId"] = "node-a" }, new JsonObject { ["nodeId"] = "node-b" }),
                ["devices"] = owners,
            },
        };
    }

    private static string WireJsonText(JsonObject status) => IotWs.Gateway.Wire.WireJson.ToText(status);
}
