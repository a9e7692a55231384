using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.PubSub;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace IotWs.Gateway.Tests.Sessions;

/// <summary>Issue 12 item 14: log lines read "back online ((null))" and "device (null)". A normal day logs no "(null)".</summary>
public sealed class SessionLogTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_normal_session_of_devices_viewers_and_technicians_logs_no_null()
    {
        var logs = new CapturedLogs();
        await using var gateway = await TestGateway.StartAsync(null, builder =>
        {
            logs.AddTo(builder);
            builder.Logging.AddFilter<CapturedLogs>("IotWs", LogLevel.Debug);
        }, "Storage:CommitInterval=00:00:00.020", "Alerts:OfflineGrace=00:00:00",
            "Alerts:Rules:0:Name=dry-lab", "Alerts:Rules:0:Metric=humidity", "Alerts:Rules:0:Comparison=below", "Alerts:Rules:0:Threshold=20",
            "Alerts:Rules:1:Name=device-offline", "Alerts:Rules:1:Metric=offline");
        var token = gateway.AddDevice("esp-day");
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "#");
        await using var technician = await gateway.ConnectWithKeyAsync(gateway.AddKey("technician", "tech-day"));

        // A device stores readings (one raises and one clears an alert), beats, and answers a call.
        var device = await gateway.ConnectDeviceAsync("esp-day", token);
        for (var seq = 1; seq <= 3; seq++)
        {
            await device.SendAsync(new { type = "data", dataType = "sensor", data = new { temperature = 21.0, humidity = seq == 2 ? 10.0 : 45.0 }, seq, bootId = 1 });
            await device.ReceiveAsync("data_response");
        }
        await device.SendAsync(new { type = "heartbeat", timestamp = 1 });
        await device.ReceiveAsync("heartbeat_response");
        await technician.SendAsync(new { type = "rpc_call", requestId = "r1", method = "device.call", @params = new { deviceId = "esp-day", endpoint = "ping", timeoutMs = 5000 } });
        var request = await device.ReceiveAsync("request");
        await device.SendAsync(new { type = "response", requestId = request.GetProperty("requestId").GetString(), success = true, data = new { pong = true } });
        await technician.ReceiveAsync("rpc_response");
        await device.SendAsync(new { type = "response", success = true, data = new { } });

        // A viewer reads history; a technician streams, uploads and stores an event.
        await watcher.SendAsync(new { type = "request", requestId = "q1", endpoint = "get_readings", data = new { deviceId = "esp-day" } });
        await watcher.ReceiveAsync("response");
        await technician.SendAsync(new { type = "stream_start", streamId = "live-1", streamType = "video" });
        await technician.ReceiveAsync("stream_started");
        await technician.SendAsync(new { type = "stream_data", streamId = "live-1", data = "aGk=", sequenceNumber = 0 });
        await technician.SendAsync(new { type = "stream_end", streamId = "live-1" });
        await technician.ReceiveAsync("stream_ended");
        await technician.SendAsync(new { type = "stream_start", streamId = "up-1", streamType = "file_upload", metadata = new { filename = "a.txt" } });
        await technician.ReceiveAsync("stream_started");
        await technician.SendAsync(new { type = "stream_data", streamId = "up-1", data = "aGk=", sequenceNumber = 0 });
        await technician.SendAsync(new { type = "stream_end", streamId = "up-1" });
        await technician.ReceiveAsync("stream_ended");
        await technician.SendAsync(new { type = "data", dataType = "application", data = new { note = "hello" } });
        await technician.ReceiveAsync("data_response");

        // The device goes away (offline alert) and comes back (cleared).
        await device.DisposeAsync();
        await watcher.ReceiveAsync("publish", TimeSpan.FromSeconds(10), m => m.GetProperty("topic").GetString() == "system_alerts" && m.GetProperty("data").GetProperty("state").GetString() == "active" && m.GetProperty("data").GetProperty("rule").GetString() == "device-offline");
        await using (var back = await gateway.ConnectDeviceAsync("esp-day", token, bootId: 2))
        {
            await watcher.ReceiveAsync("publish", TimeSpan.FromSeconds(10), m => m.GetProperty("topic").GetString() == "system_alerts" && m.GetProperty("data").GetProperty("state").GetString() == "cleared" && m.GetProperty("data").GetProperty("rule").GetString() == "device-offline");
        }
        await technician.DisposeAsync();
        await watcher.DisposeAsync();
        await gateway.DisposeAsync();

        foreach (var entry in logs.Entries) output.WriteLine(entry.ToString());
        Assert.Contains(logs.Entries, e => e.Message.Contains("disconnected", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.Message.Contains("cleared", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains("(null)", StringComparison.Ordinal));
        Assert.Empty(logs.Errors);
    }
}
