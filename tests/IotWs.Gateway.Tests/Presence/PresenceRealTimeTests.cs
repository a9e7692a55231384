using System.Diagnostics;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.PubSub;
using Xunit.Abstractions;

namespace IotWs.Gateway.Tests.Presence;

[Collection(TimingSensitive.Name)]
public sealed class PresenceRealTimeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task With_a_real_one_second_heartbeat_a_silent_device_is_stale_after_about_1_5_s_and_closed_offline_after_about_3_s()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Presence:CheckInterval=00:00:00.050");
        var silentToken = gateway.AddDevice("esp-silent");
        var liveToken = gateway.AddDevice("esp-alive");
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "device_status");

        await using var alive = await gateway.ConnectDeviceAsync("esp-alive", liveToken, heartbeatMs: 1000);
        using var stopBeating = new CancellationTokenSource();
        var beating = Task.Run(async () =>
        {
            while (!stopBeating.IsCancellationRequested)
            {
                await alive.SendAsync(new { type = "heartbeat", timestamp = 1 });
                await Task.Delay(300);
            }
        });

        var clock = Stopwatch.StartNew();
        await using var silent = await gateway.ConnectDeviceAsync("esp-silent", silentToken, heartbeatMs: 1000);
        await ExpectStatus(watcher, "esp-silent", "online", "connected", null);
        await ExpectStatus(watcher, "esp-silent", "stale", "heartbeat overdue", null, TimeSpan.FromSeconds(5));
        var staleAfter = clock.Elapsed;
        await ExpectStatus(watcher, "esp-silent", "offline", "heartbeat timeout", null, TimeSpan.FromSeconds(5));
        var offlineAfter = clock.Elapsed;
        Assert.Equal(4408, await silent.WaitClosedAsync(TimeSpan.FromSeconds(5)));
        output.WriteLine($"stale after {staleAfter.TotalMilliseconds:0} ms, offline after {offlineAfter.TotalMilliseconds:0} ms (heartbeat interval 1000 ms)");
        // Lower bounds are the contract; upper bounds leave room for a busy machine.
        Assert.InRange(staleAfter.TotalSeconds, 1.4, 3.0);
        Assert.InRange(offlineAfter.TotalSeconds, 2.9, 5.0);

        await using var back = await gateway.ConnectDeviceAsync("esp-silent", silentToken, heartbeatMs: 1000);
        await ExpectStatus(watcher, "esp-silent", "online", "connected", null);

        stopBeating.Cancel();
        await beating;
        // The device that kept beating was never anything but online.
        Assert.DoesNotContain(watcher.RawMessages, m => m.Contains("\"esp-alive\"", StringComparison.Ordinal) && !m.Contains("\"online\"", StringComparison.Ordinal));
        Assert.Equal("online", gateway.Service<IDevicePresence>().Get("esp-alive").Status);
    }

    private static Task ExpectStatus(TestClient watcher, string deviceId, string status, string reason, DateTimeOffset? at, TimeSpan? timeout = null) =>
        PresenceTests.ExpectStatus(watcher, deviceId, status, reason, at, timeout);
}
