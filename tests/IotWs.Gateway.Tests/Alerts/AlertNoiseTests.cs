using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Alerts;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Presence;
using IotWs.Gateway.Tests.PubSub;
using IotWs.Gateway.Wire;
using static IotWs.Gateway.Tests.Alerts.AlertTests;
using static IotWs.Gateway.Tests.Rpc.RpcSteps;

namespace IotWs.Gateway.Tests.Alerts;

/// <summary>Quiet alerts: the offline grace, requested reboots, flapping summaries, acknowledgement and windowed sensor health.</summary>
public sealed class AlertNoiseTests
{
    private static Task<TestGateway> StartAsync(ManualClock clock, params string[] settings) =>
        TestGateway.StartAsync(null, b => b.Services.AddSingleton<TimeProvider>(clock), settings);

    [Fact]
    public async Task An_offline_alert_waits_the_two_minute_grace_and_once_cleared_keeps_its_text_and_duration()
    {
        var clock = new ManualClock();
        var t0 = clock.GetUtcNow();
        await using var gateway = await StartAsync(clock);
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "system_alerts");
        var events = gateway.Service<GatewayEvents>();

        // A WiFi blip shorter than the grace raises nothing.
        events.OnPresenceChanged(new PresenceChange("esp-attic", "offline", "connection lost", clock.GetUtcNow()));
        clock.Advance(TimeSpan.FromSeconds(100));
        events.OnPresenceChanged(new PresenceChange("esp-attic", "online", "connected", clock.GetUtcNow()));
        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));

        var down = clock.GetUtcNow();
        events.OnPresenceChanged(new PresenceChange("esp-attic", "offline", "heartbeat timeout", down));
        clock.Advance(TimeSpan.FromSeconds(119));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));
        clock.Advance(TimeSpan.FromSeconds(1));
        var raised = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("esp-attic went offline (heartbeat timeout)", raised.GetProperty("message").GetString());
        Assert.Equal(WireJson.Time(down), raised.GetProperty("startedAt").GetString());
        Assert.Equal(WireJson.Time(down.AddMinutes(2)), raised.GetProperty("raisedAt").GetString());

        clock.Advance(TimeSpan.FromMinutes(3));
        events.OnPresenceChanged(new PresenceChange("esp-attic", "online", "connected", clock.GetUtcNow()));
        var cleared = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("cleared", cleared.GetProperty("state").GetString());
        Assert.Equal("esp-attic went offline (heartbeat timeout)", cleared.GetProperty("message").GetString());
        Assert.Equal("back online after 5 min", cleared.GetProperty("resolution").GetString());
        Assert.Equal(300, cleared.GetProperty("durationSeconds").GetDouble());
        Assert.True(clock.GetUtcNow() > t0);
    }

    [Fact]
    public async Task A_reboot_a_technician_asked_for_raises_nothing_when_confirmed_and_an_offline_alert_when_it_never_comes_back()
    {
        var clock = new ManualClock();
        // A grace shorter than the reboot, so only the reboot rule can keep it quiet.
        await using var gateway = await StartAsync(clock, "Alerts:OfflineGrace=00:00:30");
        var token = gateway.AddDevice("esp-lab");
        using var http = gateway.Http(gateway.AddKey("technician", "tech-anna"));
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "system_alerts");
        await PubSubTests.Subscribe(watcher, "device_status");

        async Task RebootAsync(TestClient device)
        {
            var post = PostAsync(http, "esp-lab", new { endpoint = "reboot" });
            await AnswerAsync(device, await device.ReceiveAsync("request"), new { message = "Rebooting in 3 seconds" });
            Assert.Equal("rebooting", (await post).Body.GetProperty("status").GetString());
            device.Abort();
            await device.DisposeAsync();
            await watcher.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "device_status"
                && m.GetProperty("data").GetProperty("status").GetString() == "offline");
        }

        var first = await gateway.ConnectDeviceAsync("esp-lab", token, bootId: 7);
        await RebootAsync(first);
        clock.Advance(TimeSpan.FromSeconds(90)); // three times the grace, offline all along
        var back = await gateway.ConnectDeviceAsync("esp-lab", token, bootId: 8);
        await watcher.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "device_status"
            && m.GetProperty("data").GetProperty("status").GetString() == "online");
        clock.Advance(TimeSpan.FromSeconds(20));
        await Task.Delay(200);
        Assert.DoesNotContain(watcher.RawMessages, m => m.StartsWith("{\"type\":\"publish\",\"topic\":\"system_alerts\"", StringComparison.Ordinal));
        await RebootAsync(back);

        // This time it does not come back: once the reboot is unconfirmed (2 min) the outage is an alert.
        clock.Advance(TimeSpan.FromSeconds(119));
        Assert.DoesNotContain(watcher.RawMessages, m => m.StartsWith("{\"type\":\"publish\",\"topic\":\"system_alerts\"", StringComparison.Ordinal));
        clock.Advance(TimeSpan.FromSeconds(3));
        var raised = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("device-offline", raised.GetProperty("rule").GetString());
        Assert.Equal("esp-lab went offline (not back from the reboot tech-anna asked for)", raised.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_flapping_device_raises_one_summary_that_counts_later_disconnects_and_clears_when_stable()
    {
        var clock = new ManualClock();
        await using var gateway = await StartAsync(clock);
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "system_alerts");
        var events = gateway.Service<GatewayEvents>();

        void Blip(TimeSpan offFor, TimeSpan onFor)
        {
            events.OnPresenceChanged(new PresenceChange("esp-shed", "offline", "connection lost", clock.GetUtcNow()));
            clock.Advance(offFor);
            events.OnPresenceChanged(new PresenceChange("esp-shed", "online", "connected", clock.GetUtcNow()));
            clock.Advance(onFor);
        }

        // Three blips inside the grace: nothing yet.
        for (var i = 0; i < 3; i++) Blip(TimeSpan.FromSeconds(20), TimeSpan.FromMinutes(2));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));

        // The fourth within 30 minutes: one summary.
        Blip(TimeSpan.FromSeconds(20), TimeSpan.FromMinutes(1));
        var summary = await ExpectAlert(watcher, "system_alerts");
        var id = summary.GetProperty("id").GetInt64();
        Assert.Equal("esp-shed is unstable: offline 4 times within 30 min", summary.GetProperty("message").GetString());
        Assert.Equal(4, summary.GetProperty("occurrences").GetInt32());

        // Later disconnects, even one longer than the grace, update that alert instead of raising new ones.
        Blip(TimeSpan.FromSeconds(20), TimeSpan.FromMinutes(1));
        Blip(TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(1));
        var updates = new List<JsonElement> { await ExpectAlert(watcher, "system_alerts"), await ExpectAlert(watcher, "system_alerts") };
        Assert.All(updates, u => Assert.Equal(id, u.GetProperty("id").GetInt64()));
        Assert.All(updates, u => Assert.Equal("active", u.GetProperty("state").GetString()));
        Assert.Equal(6, updates[^1].GetProperty("occurrences").GetInt32());

        // Online for a whole window (30 min since it came back, one of them already passed): cleared, its message kept.
        clock.Advance(TimeSpan.FromMinutes(28));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));
        clock.Advance(TimeSpan.FromMinutes(1));
        var cleared = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal(id, cleared.GetProperty("id").GetInt64());
        Assert.Equal("cleared", cleared.GetProperty("state").GetString());
        Assert.Equal(summary.GetProperty("message").GetString(), cleared.GetProperty("message").GetString());
        Assert.Equal("stable again: online for 30 min after 6 disconnects", cleared.GetProperty("resolution").GetString());

        using var http = gateway.Http(gateway.AddKey("viewer"));
        Assert.Single(JsonNode.Parse(await http.GetStringAsync("/api/alerts"))!.AsArray());
    }

    [Fact]
    public async Task A_technician_acknowledges_an_alert_and_who_and_when_is_kept_through_its_clearing()
    {
        var clock = new ManualClock();
        await using var gateway = await StartAsync(clock);
        var events = gateway.Service<GatewayEvents>();
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "system_alerts");
        events.OnReadingStored(Reading("esp-hot", 35, 40, clock));
        clock.Advance(TimeSpan.FromMinutes(1));
        events.OnReadingStored(Reading("esp-hot", 35, 40, clock));
        var id = (await ExpectAlert(watcher, "system_alerts")).GetProperty("id").GetInt64();
        clock.Advance(TimeSpan.FromSeconds(30));

        using var viewer = gateway.Http(gateway.AddKey("viewer"));
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.PostAsync($"/api/alerts/{id}/ack", null)).StatusCode);
        using var tech = gateway.Http(gateway.AddKey("technician", "tech-ben"));
        Assert.Equal(HttpStatusCode.NotFound, (await tech.PostAsync("/api/alerts/999/ack", null)).StatusCode);

        using var response = await tech.PostAsync($"/api/alerts/{id}/ack", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var acked = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("tech-ben", acked["acknowledgedBy"]!.GetValue<string>());
        Assert.Equal(WireJson.Time(clock.GetUtcNow()), acked["acknowledgedAt"]!.GetValue<string>());
        Assert.Equal("active", acked["state"]!.GetValue<string>());
        var published = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("tech-ben", published.GetProperty("acknowledgedBy").GetString());

        // The first acknowledgement stays.
        clock.Advance(TimeSpan.FromSeconds(5));
        using var admin = gateway.Http(gateway.AddKey("admin", "admin-cleo"));
        var again = JsonNode.Parse(await (await admin.PostAsync($"/api/alerts/{id}/ack", null)).Content.ReadAsStringAsync())!;
        Assert.Equal("tech-ben", again["acknowledgedBy"]!.GetValue<string>());

        events.OnReadingStored(Reading("esp-hot", 25, 40, clock));
        var cleared = await ExpectAlert(watcher, "system_alerts");
        Assert.Equal("cleared", cleared.GetProperty("state").GetString());
        Assert.Equal("tech-ben", cleared.GetProperty("acknowledgedBy").GetString());
        var listed = JsonNode.Parse(await viewer.GetStringAsync("/api/alerts"))!.AsArray().Single()!;
        Assert.Equal("tech-ben", listed["acknowledgedBy"]!.GetValue<string>());
        Assert.Equal(acked["acknowledgedAt"]!.GetValue<string>(), listed["acknowledgedAt"]!.GetValue<string>());
    }

    [Fact]
    public async Task Sensor_failures_are_judged_over_the_last_hour_not_since_boot()
    {
        var clock = new ManualClock();
        await using var gateway = await StartAsync(clock);
        var events = gateway.Service<GatewayEvents>();
        var sensors = gateway.Service<SensorHealthWindow>();

        void Minutes(int minutes, long errorsFrom, long errorsTo, long bootId = 1)
        {
            // One reading every 10 s and a heartbeat every minute, errors rising evenly.
            for (var m = 1; m <= minutes; m++)
            {
                for (var r = 0; r < 6; r++)
                {
                    clock.Advance(TimeSpan.FromSeconds(10));
                    events.OnReadingStored(Reading("esp-kitchen", 21, 45, clock));
                }
                sensors.Record("esp-kitchen", bootId, errorsFrom + (errorsTo - errorsFrom) * m / minutes);
            }
        }

        // 40 failures since boot that happened long ago, then a 2 % rate for an hour (like the simulator).
        sensors.Record("esp-kitchen", 1, 40);
        Minutes(60, 40, 47);
        var calm = sensors.Judge("esp-kitchen")!;
        Assert.Equal(7, calm.FailedReads);
        Assert.Equal(360 + 7, calm.Reads);
        Assert.False(calm.Flagged);

        // A bad quarter of an hour: 30 failures against 90 readings.
        Minutes(15, 47, 77);
        Assert.True(sensors.Judge("esp-kitchen")!.Flagged);

        using var http = gateway.Http(gateway.AddKey("viewer"));
        var json = JsonNode.Parse(await http.GetStringAsync("/api/alerts/sensors"))!;
        Assert.Equal(3600, json["windowSeconds"]!.GetValue<long>());
        var kitchen = json["devices"]!.AsArray().Single()!;
        Assert.Equal("esp-kitchen", kitchen["deviceId"]!.GetValue<string>());
        Assert.True(kitchen["flagged"]!.GetValue<bool>());

        // An hour later without new failures the warning is gone, though the counter since boot is 77.
        Minutes(61, 77, 77);
        var later = sensors.Judge("esp-kitchen")!;
        Assert.Equal(0, later.FailedReads);
        Assert.False(later.Flagged);

        // A reboot restarts the counter: its errors count from zero, not as a drop.
        Minutes(5, 5, 5, bootId: 2);
        Assert.Equal(5, sensors.Judge("esp-kitchen")!.FailedReads);
    }

    [Fact]
    public void A_busy_device_costs_the_sensor_window_a_fixed_amount_of_memory_not_one_entry_per_reading()
    {
        var clock = new SteppedClock();
        var events = new GatewayEvents();
        using var sensors = new SensorHealthWindow(events, Microsoft.Extensions.Options.Options.Create(new AlertOptions()), clock);
        var reading = Reading("esp-busy", 21, 45, clock);
        events.OnReadingStored(reading); // the device's window is made
        var before = GC.GetAllocatedBytesForCurrentThread();
        // 100 readings/s for 20 minutes, all within the hour: one timestamp per reading would be 1.9 MB.
        for (var i = 0; i < 120_000; i++)
        {
            clock.Now += TimeSpan.FromMilliseconds(10);
            events.OnReadingStored(reading);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64 * 1024, $"{allocated:N0} bytes allocated for 120,000 readings");
        Assert.Equal(120_001, sensors.Judge("esp-busy")!.Reads);
        // An hour and a step later, none of them counts.
        clock.Now += TimeSpan.FromMinutes(62);
        Assert.Equal(0, sensors.Judge("esp-busy")!.Reads);
    }

    private sealed class SteppedClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
