using System.Text.Json;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.PubSub;
using IotWs.Gateway.Wire;

namespace IotWs.Gateway.Tests.Presence;

public sealed class PresenceTests
{
    [Fact]
    public async Task Presence_goes_online_stale_at_one_and_a_half_intervals_offline_at_three_with_4408_and_online_on_return()
    {
        var clock = new ManualClock();
        var t0 = clock.GetUtcNow();
        await using var gateway = await TestGateway.StartAsync(null, b => b.Services.AddSingleton<TimeProvider>(clock));
        var token = gateway.AddDevice("esp-p");
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "device_status");
        var presence = gateway.Service<IDevicePresence>();
        Assert.IsType<PresenceTracker>(presence);

        var device = await gateway.ConnectDeviceAsync("esp-p", token, bootId: 4, heartbeatMs: 10_000);
        await ExpectStatus(watcher, "esp-p", "online", "connected", t0);
        await device.SendAsync(new { type = "heartbeat", timestamp = 1, uptime = 120_000, freeMemory = 81_234, rssi = -61, sensorErrors = 2 });
        await device.ReceiveAsync("heartbeat_response");

        clock.Advance(TimeSpan.FromSeconds(14.75));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));
        Assert.Equal("online", presence.Get("esp-p").Status);
        clock.Advance(TimeSpan.FromSeconds(0.25));
        await ExpectStatus(watcher, "esp-p", "stale", "heartbeat overdue", t0.AddSeconds(15));
        Assert.Equal("stale", presence.Get("esp-p").Status);

        // Any message is a sign of life.
        await device.SendAsync(new { type = "heartbeat", timestamp = 2 });
        await ExpectStatus(watcher, "esp-p", "online", "activity resumed", t0.AddSeconds(15));

        clock.Advance(TimeSpan.FromSeconds(15));
        await ExpectStatus(watcher, "esp-p", "stale", "heartbeat overdue", t0.AddSeconds(30));
        clock.Advance(TimeSpan.FromSeconds(14.75));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));
        clock.Advance(TimeSpan.FromSeconds(0.25));
        await ExpectStatus(watcher, "esp-p", "offline", "heartbeat timeout", t0.AddSeconds(45));
        Assert.Equal(4408, await device.WaitClosedAsync());
        await device.DisposeAsync();

        var snapshot = presence.Get("esp-p");
        Assert.Equal("offline", snapshot.Status);
        Assert.Equal(t0.AddSeconds(45), snapshot.StatusSince);
        Assert.Equal(t0.AddSeconds(15), snapshot.LastSeen);
        Assert.Equal(4, snapshot.BootId);
        Assert.Equal(-61, snapshot.LastHeartbeat!["rssi"]!.GetValue<long>());
        Assert.Equal(120_000, snapshot.LastHeartbeat["uptime"]!.GetValue<long>());

        clock.Advance(TimeSpan.FromSeconds(60));
        await using var back = await gateway.ConnectDeviceAsync("esp-p", token, bootId: 5, heartbeatMs: 10_000);
        await ExpectStatus(watcher, "esp-p", "online", "connected", t0.AddSeconds(105));
        Assert.Equal(5, presence.Get("esp-p").BootId);

        var history = presence.History("esp-p", 10);
        Assert.Equal(
            ["online connected", "offline heartbeat timeout", "stale heartbeat overdue", "online activity resumed", "stale heartbeat overdue", "online connected"],
            history.Select(h => h.Status + " " + h.Reason));
        Assert.Equal(t0.AddSeconds(105), history[0].At);
    }

    [Fact]
    public async Task A_clean_disconnect_a_dropped_connection_and_a_gateway_close_are_offline_with_their_reasons_and_a_replacement_does_not_flap()
    {
        await using var gateway = await TestGateway.StartAsync();
        var token = gateway.AddDevice("esp-d");
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "device_status");

        var first = await gateway.ConnectDeviceAsync("esp-d", token);
        await ExpectStatus(watcher, "esp-d", "online", "connected", null);
        var second = await gateway.ConnectDeviceAsync("esp-d", token, bootId: 2);
        Assert.Equal(4409, await first.WaitClosedAsync());
        await first.DisposeAsync();
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(300)));

        second.Abort();
        await ExpectStatus(watcher, "esp-d", "offline", "connection lost", null);
        await second.DisposeAsync();

        var third = await gateway.ConnectDeviceAsync("esp-d", token, bootId: 3);
        await ExpectStatus(watcher, "esp-d", "online", "connected", null);
        await third.CloseAsync();
        await ExpectStatus(watcher, "esp-d", "offline", "disconnected", null);
        await third.DisposeAsync();

        await using var fourth = await gateway.ConnectDeviceAsync("esp-d", token, bootId: 4);
        await ExpectStatus(watcher, "esp-d", "online", "connected", null);
        await fourth.SendTextAsync("{\"type\":\"heartbeat\",\"pad\":\"" + new string('x', 70 * 1024) + "\"}");
        Assert.Equal(1009, await fourth.WaitClosedAsync());
        await ExpectStatus(watcher, "esp-d", "offline", "closed by gateway 1009", null);
    }

    [Fact]
    public async Task Presence_state_last_seen_metrics_and_history_survive_a_restart_and_silence_is_judged_from_the_stored_last_seen()
    {
        var dataDir = TestGateway.NewDataDir();
        TestClient? live = null;
        try
        {
            await using (var gateway = await TestGateway.StartAsync(dataDir))
            {
                var token = gateway.AddDevice("esp-gone");
                var liveToken = gateway.AddDevice("esp-live");
                await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
                await PubSubTests.Subscribe(watcher, "device_status");

                await using var gone = await gateway.ConnectDeviceAsync("esp-gone", token, bootId: 7);
                await ExpectStatus(watcher, "esp-gone", "online", "connected", null);
                await gone.SendAsync(new { type = "heartbeat", timestamp = 1, uptime = 5000, freeMemory = 90_000, rssi = -70, sensorErrors = 0 });
                await gone.ReceiveAsync("heartbeat_response");
                await gone.CloseAsync();
                await ExpectStatus(watcher, "esp-gone", "offline", "disconnected", null);

                // Still connected when the gateway stops.
                live = await gateway.ConnectDeviceAsync("esp-live", liveToken, bootId: 3, heartbeatMs: 2000);
                await ExpectStatus(watcher, "esp-live", "online", "connected", null);
            }

            var clock = new ManualClock(DateTimeOffset.UtcNow);
            await using (var restarted = await TestGateway.StartAsync(dataDir, b => b.Services.AddSingleton<TimeProvider>(clock)))
            {
                var presence = restarted.Service<IDevicePresence>();
                var gone = presence.Get("esp-gone");
                Assert.Equal("offline", gone.Status);
                Assert.NotNull(gone.LastSeen);
                Assert.NotNull(gone.StatusSince);
                Assert.Equal(7, gone.BootId);
                Assert.Equal(-70, gone.LastHeartbeat!["rssi"]!.GetValue<long>());
                Assert.Equal(90_000, gone.LastHeartbeat["freeMemory"]!.GetValue<long>());
                Assert.Equal(["offline disconnected", "online connected"], presence.History("esp-gone", 10).Select(h => h.Status + " " + h.Reason));

                // The device that was online when the gateway stopped keeps that state until its silence,
                // counted from the stored lastSeen, passes three heartbeat intervals (2 s each).
                var stillOnline = presence.Get("esp-live");
                Assert.Equal("online", stillOnline.Status);
                Assert.Equal(3, stillOnline.BootId);
                clock.Advance(TimeSpan.FromSeconds(7));
                Assert.Equal("offline", presence.Get("esp-live").Status);
                Assert.Equal("heartbeat timeout", presence.History("esp-live", 1)[0].Reason);
            }
        }
        finally
        {
            if (live is not null) await live.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Waits for the device_status publish of this device and checks its fields.</summary>
    internal static async Task ExpectStatus(TestClient watcher, string deviceId, string status, string reason, DateTimeOffset? at, TimeSpan? timeout = null)
    {
        var message = await watcher.ReceiveAsync("publish", timeout, m =>
            m.GetProperty("topic").GetString() == "device_status" && m.GetProperty("data").GetProperty("deviceId").GetString() == deviceId);
        var data = message.GetProperty("data");
        Assert.Equal(status, data.GetProperty("status").GetString());
        Assert.Equal(reason, data.GetProperty("reason").GetString());
        Assert.Equal("gateway", message.GetProperty("source").GetString());
        Assert.Equal(4, data.EnumerateObject().Count());
        if (at is { } expected) Assert.Equal(WireJson.Time(expected), data.GetProperty("at").GetString());
        else Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", data.GetProperty("at").GetString());
        Assert.Equal(JsonValueKind.String, data.GetProperty("at").ValueKind);
    }
}
