using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.PubSub;

namespace IotWs.Gateway.Tests.Api;

/// <summary>
/// Issue 15: OpenTelemetry metrics scraped from /metrics over real Kestrel and parsed. Alone in its collection,
/// because every gateway in the test process publishes a meter of the same name.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class MetricsTests
{
    private static async Task<PrometheusText> ScrapeAsync(HttpClient http, Func<PrometheusText, bool>? until = null)
    {
        // The exporter caches a scrape for 300 ms; poll (bounded) until the figures the test waits for are there.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            using var response = await http.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            var parsed = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
            if (until is null || until(parsed) || DateTime.UtcNow > deadline) return parsed;
            await Task.Delay(100);
        }
    }

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    [Fact]
    public async Task The_scrape_has_readings_commits_connections_rpc_outcomes_fan_out_and_presence()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:00.020");
        var token = gateway.AddDevice("esp-metrics");
        var awayToken = gateway.AddDevice("esp-away");
        var viewerKey = gateway.AddKey("viewer");
        var scraper = gateway.Http(viewerKey);

        await using var device = await gateway.ConnectDeviceAsync("esp-metrics", token, 4);
        await using var dashboard = await gateway.ConnectWithKeyAsync(viewerKey);
        for (var seq = 1; seq <= 3; seq++)
        {
            await device.SendAsync(new { type = "data", dataType = "sensor", seq, bootId = 4, timestamp = Iso(DateTimeOffset.UtcNow), data = new { temperature = -4.5 + seq, humidity = 40.0 } });
            var ack = await device.ReceiveAsync("data_response");
            Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        }
        // esp-away comes and goes (offline); a call to it then finishes at once as failed (device_offline).
        await (await gateway.ConnectDeviceAsync("esp-away", awayToken, 1)).DisposeAsync();
        var offlineBy = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (gateway.Service<IotWs.Gateway.Devices.PresenceTracker>().CountByStatus()["offline"] == 0 && DateTime.UtcNow < offlineBy) await Task.Delay(20);
        // A call to a device that is not connected finishes at once as failed (device_offline).
        var call = await gateway.Http(gateway.AddKey("technician")).PostAsJsonAsync("/api/devices/esp-away/rpc", new { endpoint = "ping", data = new { } });
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);

        var metrics = await ScrapeAsync(scraper, m => m.Find("iotws_readings_stored_total").Any(s => s.Value >= 3)
            && m.Find("iotws_rpc_calls_finished_total").Any());

        Assert.Equal("counter", metrics.Types["iotws_readings_stored_total"]);
        Assert.Equal(3, metrics.Value("iotws_readings_stored_total"));
        Assert.Equal("gauge", metrics.Types["iotws_readings_queue_depth"]);
        Assert.Equal(0, metrics.Value("iotws_readings_queue_depth"));

        // The commit histogram: cumulative buckets ending in +Inf = count.
        Assert.Equal("histogram", metrics.Types["iotws_readings_commit_duration_seconds"]);
        var buckets = metrics.Find("iotws_readings_commit_duration_seconds_bucket").ToList();
        Assert.True(buckets.Count > 5);
        Assert.Equal(buckets.Select(b => b.Value).Order(), buckets.Select(b => b.Value));
        var count = metrics.Value("iotws_readings_commit_duration_seconds_count");
        Assert.InRange(count, 1, 3);
        Assert.Equal(count, buckets.Single(b => b.Labels["le"] == "+Inf").Value);
        Assert.True(metrics.Value("iotws_readings_commit_duration_seconds_sum") > 0);

        Assert.Equal(1, metrics.Value("iotws_connections", ("client_type", "microcontroller")));
        Assert.Equal(1, metrics.Value("iotws_connections", ("client_type", "application")));
        Assert.Equal(0, metrics.Value("iotws_connections", ("client_type", "service")));
        Assert.Equal(1, metrics.Value("iotws_rpc_calls_finished_total", ("status", "failed")));
        Assert.Equal(1, metrics.Value("iotws_devices_presence", ("state", "online")));
        Assert.Equal(1, metrics.Value("iotws_devices_presence", ("state", "offline")));
        Assert.Equal(0, metrics.Value("iotws_fanout_dropped_total"));
        Assert.Equal(0, metrics.Value("iotws_fanout_slow_consumers_closed_total"));
        Assert.True(metrics.Value("iotws_messages_received_total") >= 3);
        // No MQTT figures while the bridge is disabled; ASP.NET Core's own request metrics are there.
        Assert.Empty(metrics.Find("iotws_mqtt_queue_depth"));
        Assert.NotEmpty(metrics.Find("http_server_request_duration_seconds_count", ("http_route", "/api/devices/{id}/rpc")));
    }

    [Fact]
    public async Task The_mqtt_queue_depth_shows_while_the_broker_is_away()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Mqtt:Enabled=true", "Mqtt:Host=127.0.0.1", $"Mqtt:Port={UnusedPort()}",
            "Mqtt:ReconnectMin=00:00:00.050", "Mqtt:ReconnectMax=00:00:00.200");
        var token = gateway.AddDevice("esp-mqtt");
        // Its discovery and availability are published when it authenticates: they wait in the client's queue.
        await using var device = await gateway.ConnectDeviceAsync("esp-mqtt", token, 1);
        var metrics = await ScrapeAsync(gateway.Http(gateway.AddKey("viewer")), m => m.Find("iotws_mqtt_queue_depth").Any(s => s.Value > 0));

        Assert.True(metrics.Value("iotws_mqtt_queue_depth") > 0);
        Assert.Equal(0, metrics.Value("iotws_mqtt_connected"));
    }

    [Fact]
    public async Task Metrics_need_a_key_unless_anonymous_scrapes_are_allowed()
    {
        await using (var gateway = await TestGateway.StartAsync())
        {
            var refused = await gateway.Http().GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.Http("iwk_wrong").GetAsync("/metrics")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await gateway.Http(gateway.AddKey("viewer")).GetAsync("/metrics")).StatusCode);
        }
        await using (var open = await TestGateway.StartAsync(null, "Metrics:AllowAnonymous=true"))
        {
            var metrics = await ScrapeAsync(open.Http());
            Assert.Contains("iotws_readings_stored_total", metrics.Types.Keys);
        }
    }

    internal static int UnusedPort()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
