using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Presence;
using IotWs.Gateway.Tests.PubSub;
using IotWs.Gateway.Wire;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Tests.Alerts;

public sealed class AlertTests
{
    private static long _insertId;

    [Fact]
    public async Task A_temperature_alert_is_raised_once_after_its_duration_and_cleared_once_past_the_hysteresis()
    {
        var clock = new ManualClock();
        var t0 = clock.GetUtcNow();
        await using var gateway = await TestGateway.StartAsync(null, b => b.Services.AddSingleton<TimeProvider>(clock));
        var viewerKey = gateway.AddKey("viewer");
        await using var watcher = await gateway.ConnectWithKeyAsync(viewerKey);
        await PubSubTests.Subscribe(watcher, "system_alerts");
        await PubSubTests.Subscribe(watcher, "temperature-alerts");
        var events = gateway.Service<GatewayEvents>();

        // Default rule: temperature above 30 °C for 1 minute, hysteresis 0.5.
        async Task Feed(double temperature, double advanceSeconds = 0, bool expectNothing = true)
        {
            clock.Advance(TimeSpan.FromSeconds(advanceSeconds));
            events.OnReadingStored(Reading("esp-hot", temperature, 50, clock));
            if (expectNothing) Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(100)), $"unexpected alert at {temperature}");
        }

        await Feed(31.0);
        await Feed(31.2, 30);
        await Feed(31.5, 30, expectNothing: false);
        var raised = await ExpectAlert(watcher, "system_alerts");
        var raisedTemperature = await ExpectAlert(watcher, "temperature-alerts");
        Assert.Equal(raised.ToString(), raisedTemperature.ToString());
        Assert.Equal("high-temperature", raised.GetProperty("rule").GetString());
        Assert.Equal("esp-hot", raised.GetProperty("deviceId").GetString());
        Assert.Equal("warning", raised.GetProperty("severity").GetString());
        Assert.Equal("active", raised.GetProperty("state").GetString());
        Assert.Equal(31.5, raised.GetProperty("value").GetDouble());
        Assert.Equal(WireJson.Time(t0.AddSeconds(60)), raised.GetProperty("raisedAt").GetString());
        Assert.Equal(JsonValueKind.Null, raised.GetProperty("clearedAt").ValueKind);
        Assert.Contains("31.5", raised.GetProperty("message").GetString());
        var id = raised.GetProperty("id").GetInt64();

        await Feed(32, 10);     // still hot: no repeat
        await Feed(29.8, 10);   // below 30 but inside the hysteresis band
        await Feed(30.5, 10);
        await Feed(29.5, 10, expectNothing: false);
        var cleared = await ExpectAlert(watcher, "system_alerts");
        await ExpectAlert(watcher, "temperature-alerts");
        Assert.Equal(id, cleared.GetProperty("id").GetInt64());
        Assert.Equal("cleared", cleared.GetProperty("state").GetString());
        Assert.Equal(31.5, cleared.GetProperty("value").GetDouble());
        Assert.Equal(WireJson.Time(t0.AddSeconds(100)), cleared.GetProperty("clearedAt").GetString());
        Assert.Equal(WireJson.Time(t0.AddSeconds(60)), cleared.GetProperty("raisedAt").GetString());
        // The original problem stays readable once cleared; how it ended and how long it lasted are added.
        Assert.Equal(raised.GetProperty("message").GetString(), cleared.GetProperty("message").GetString());
        Assert.Equal(WireJson.Time(t0), cleared.GetProperty("startedAt").GetString());
        Assert.Equal(100, cleared.GetProperty("durationSeconds").GetDouble());
        Assert.Equal("temperature 29.5 °C is back at or below 29.5 °C after 1 min", cleared.GetProperty("resolution").GetString());

        // Recovered: nothing more, and a new hot spell needs its own full minute.
        await Feed(29, 10);
        await Feed(31, 10);
        await Feed(31, 59);
        await Feed(29, 1);
        await Feed(31, 1);
        await Feed(31, 30);

        var systemAlerts = watcher.RawMessages.Count(m => m.StartsWith("{\"type\":\"publish\",\"topic\":\"system_alerts\"", StringComparison.Ordinal));
        Assert.Equal(2, systemAlerts);

        using var http = gateway.Http(viewerKey);
        var all = JsonNode.Parse(await http.GetStringAsync("/api/alerts"))!.AsArray();
        Assert.Single(all);
        Assert.Equal("cleared", all[0]!["state"]!.GetValue<string>());
        Assert.Empty(JsonNode.Parse(await http.GetStringAsync("/api/alerts?state=active"))!.AsArray());
    }

    [Fact]
    public async Task Configured_rules_replace_the_defaults_offline_waits_its_duration_and_a_device_filter_is_respected()
    {
        var clock = new ManualClock();
        await using var gateway = await TestGateway.StartAsync(null, b => b.Services.AddSingleton<TimeProvider>(clock),
            "Alerts:Rules:0:Name=offline-2m", "Alerts:Rules:0:Metric=offline", "Alerts:Rules:0:Duration=00:02:00", "Alerts:Rules:0:Severity=critical",
            "Alerts:Rules:1:Name=dry-lab", "Alerts:Rules:1:Metric=humidity", "Alerts:Rules:1:Comparison=below", "Alerts:Rules:1:Threshold=20",
            "Alerts:Rules:1:Hysteresis=2", "Alerts:Rules:1:DeviceId=esp-lab", "Alerts:Rules:1:Severity=info");
        var viewerKey = gateway.AddKey("viewer");
        await using var watcher = await gateway.ConnectWithKeyAsync(viewerKey);
        await PubSubTests.Subscribe(watcher, "system_alerts");
        await PubSubTests.Subscribe(watcher, "temperature-alerts");
        var events = gateway.Service<GatewayEvents>();

        // Only the configured rules: 35 °C raises nothing.
        events.OnReadingStored(Reading("esp-lab", 35, 50, clock));
        events.OnReadingStored(Reading("esp-other", 22, 10, clock));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));

        events.OnReadingStored(Reading("esp-lab", 22, 15, clock));
        var dry = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("dry-lab", dry.GetProperty("rule").GetString());
        Assert.Equal("info", dry.GetProperty("severity").GetString());
        events.OnReadingStored(Reading("esp-lab", 22, 21, clock));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(100)));
        events.OnReadingStored(Reading("esp-lab", 22, 22, clock));
        Assert.Equal("cleared", (await ExpectAlert(watcher, "system_alerts")).GetProperty("state").GetString());

        events.OnPresenceChanged(new PresenceChange("esp-far", "offline", "heartbeat timeout", clock.GetUtcNow()));
        clock.Advance(TimeSpan.FromSeconds(119));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));
        clock.Advance(TimeSpan.FromSeconds(1));
        var offline = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("offline-2m", offline.GetProperty("rule").GetString());
        Assert.Equal("critical", offline.GetProperty("severity").GetString());
        Assert.Equal(JsonValueKind.Null, offline.GetProperty("value").ValueKind);
        Assert.Contains("offline", offline.GetProperty("message").GetString());
        clock.Advance(TimeSpan.FromMinutes(10));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(100)));

        events.OnPresenceChanged(new PresenceChange("esp-far", "online", "connected", clock.GetUtcNow()));
        var back = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("cleared", back.GetProperty("state").GetString());
        Assert.Equal(offline.GetProperty("id").GetInt64(), back.GetProperty("id").GetInt64());

        // A device that comes back before the duration raises nothing.
        events.OnPresenceChanged(new PresenceChange("esp-blip", "offline", "connection lost", clock.GetUtcNow()));
        clock.Advance(TimeSpan.FromSeconds(60));
        events.OnPresenceChanged(new PresenceChange("esp-blip", "online", "connected", clock.GetUtcNow()));
        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));
        Assert.DoesNotContain(watcher.RawMessages, m => m.Contains("temperature-alerts", StringComparison.Ordinal) && m.Contains("\"publish\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_device_going_offline_through_presence_raises_the_default_offline_alert_and_coming_back_clears_it()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Alerts:OfflineGrace=00:00:00");
        var token = gateway.AddDevice("esp-off");
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "system_alerts");

        var device = await gateway.ConnectDeviceAsync("esp-off", token);
        await device.CloseAsync();
        await device.DisposeAsync();
        var raised = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("device-offline", raised.GetProperty("rule").GetString());
        Assert.Equal("esp-off", raised.GetProperty("deviceId").GetString());
        Assert.Equal("active", raised.GetProperty("state").GetString());

        await using var back = await gateway.ConnectDeviceAsync("esp-off", token, bootId: 2);
        Assert.Equal("cleared", (await ExpectAlert(watcher, "system_alerts")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task An_active_alert_stays_active_across_a_restart_and_is_not_raised_again()
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            long id;
            var clock = new ManualClock();
            await using (var gateway = await TestGateway.StartAsync(dataDir, b => b.Services.AddSingleton<TimeProvider>(clock)))
            {
                var events = gateway.Service<GatewayEvents>();
                events.OnReadingStored(Reading("esp-r", 33, 40, clock));
                clock.Advance(TimeSpan.FromMinutes(1));
                events.OnReadingStored(Reading("esp-r", 33, 40, clock));
                using var http = gateway.Http(gateway.AddKey("viewer", "viewer-r"));
                var active = JsonNode.Parse(await http.GetStringAsync("/api/alerts?state=active"))!.AsArray();
                id = Assert.Single(active)!["id"]!.GetValue<long>();
            }

            clock.Advance(TimeSpan.FromMinutes(5));
            await using var restarted = await TestGateway.StartAsync(dataDir, b => b.Services.AddSingleton<TimeProvider>(clock));
            var viewerKey = restarted.AddKey("viewer");
            await using var watcher = await restarted.ConnectWithKeyAsync(viewerKey);
            await PubSubTests.Subscribe(watcher, "system_alerts");
            var again = restarted.Service<GatewayEvents>();
            again.OnReadingStored(Reading("esp-r", 34, 40, clock));
            clock.Advance(TimeSpan.FromMinutes(2));
            again.OnReadingStored(Reading("esp-r", 34, 40, clock));
            Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));

            again.OnReadingStored(Reading("esp-r", 25, 40, clock));
            var cleared = await ExpectAlert(watcher, "system_alerts");
            Assert.Equal(id, cleared.GetProperty("id").GetInt64());
            Assert.Equal("cleared", cleared.GetProperty("state").GetString());

            using var http2 = restarted.Http(viewerKey);
            var all = JsonNode.Parse(await http2.GetStringAsync("/api/alerts"))!.AsArray();
            Assert.Equal("cleared", Assert.Single(all)!["state"]!.GetValue<string>());
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task The_alerts_api_needs_a_viewer_key_lists_newest_first_and_filters_by_state()
    {
        var clock = new ManualClock();
        await using var gateway = await TestGateway.StartAsync(null, b => b.Services.AddSingleton<TimeProvider>(clock), "Alerts:OfflineGrace=00:00:00");
        var events = gateway.Service<GatewayEvents>();
        events.OnPresenceChanged(new PresenceChange("esp-1", "offline", "heartbeat timeout", clock.GetUtcNow()));
        clock.Advance(TimeSpan.FromSeconds(1));
        events.OnPresenceChanged(new PresenceChange("esp-2", "offline", "heartbeat timeout", clock.GetUtcNow()));
        clock.Advance(TimeSpan.FromSeconds(1));
        events.OnPresenceChanged(new PresenceChange("esp-1", "online", "connected", clock.GetUtcNow()));

        using var anonymous = gateway.Http();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/alerts")).StatusCode);
        using var http = gateway.Http(gateway.AddKey("viewer"));
        var all = JsonNode.Parse(await http.GetStringAsync("/api/alerts"))!.AsArray();
        Assert.Equal(["esp-2", "esp-1"], all.Select(a => a!["deviceId"]!.GetValue<string>()));
        var active = JsonNode.Parse(await http.GetStringAsync("/api/alerts?state=active"))!.AsArray();
        Assert.Equal("esp-2", Assert.Single(active)!["deviceId"]!.GetValue<string>());
        var cleared = JsonNode.Parse(await http.GetStringAsync("/api/alerts?state=cleared&deviceId=esp-1"))!.AsArray();
        Assert.Equal("esp-1", Assert.Single(cleared)!["deviceId"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/api/alerts?state=maybe")).StatusCode);
        var fields = all[0]!.AsObject().Select(p => p.Key).ToArray();
        Assert.Equal(["id", "rule", "deviceId", "severity", "state", "message", "value", "raisedAt", "clearedAt",
            "startedAt", "durationSeconds", "occurrences", "resolution", "acknowledgedBy", "acknowledgedAt"], fields);
    }

    [Fact]
    public async Task A_rule_the_gateway_cannot_evaluate_stops_it_at_start_with_a_clear_message()
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            var e = await Assert.ThrowsAsync<OptionsValidationException>(() => TestGateway.StartAsync(dataDir,
                "Alerts:Rules:0:Name=odd", "Alerts:Rules:0:Metric=pressure", "Alerts:Rules:0:Severity=loud"));
            Assert.Contains("Gateway:Alerts:Rules:0:Metric", e.Message);
            Assert.Contains("Severity", e.Message);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }

    internal static StoredReading Reading(string deviceId, double temperature, double humidity, TimeProvider clock) =>
        new(Interlocked.Increment(ref _insertId), deviceId, 1, _insertId, clock.GetUtcNow(), temperature, humidity, "dht22", "lab");

    internal static async Task<JsonElement> ExpectAlert(TestClient watcher, string topic)
    {
        var message = await watcher.ReceiveAsync("publish", TimeSpan.FromSeconds(5), m => m.GetProperty("topic").GetString() == topic);
        Assert.Equal("gateway", message.GetProperty("source").GetString());
        return message.GetProperty("data");
    }
}
