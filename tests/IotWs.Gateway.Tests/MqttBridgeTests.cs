using System.Diagnostics;
using System.Text.Json;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests;

public sealed class MqttBridgeTests
{
    private static string[] Bridge(MosquittoBroker broker) =>
    [
        "Mqtt:Enabled=true", "Mqtt:Host=127.0.0.1", $"Mqtt:Port={broker.Port}", "Mqtt:ClientId=iotws-test",
        "Mqtt:ReconnectMin=00:00:00.050", "Mqtt:ReconnectMax=00:00:00.500",
    ];

    [MosquittoFact]
    public async Task Discovery_state_and_availability_reach_a_plain_subscriber()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var dir = TestGateway.NewDataDir();
        new Identity.IdentityStore(new Storage.GatewayDatabase(dir, [new Identity.IdentityStore.Schema()])).AddDevice("esp-attic", "Attic", "attic");
        await using var gateway = await TestGateway.StartAsync(dir, Bridge(broker));
        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "homeassistant/#", "iotws/#");
        await using var _ = subscriber;

        var discovery = await inbox.WaitForAsync("homeassistant/sensor/esp-attic_temperature/config");
        var config = JsonDocument.Parse(discovery.Payload).RootElement;
        Assert.Equal("temperature", config.GetProperty("device_class").GetString());
        Assert.Equal("°C", config.GetProperty("unit_of_measurement").GetString());
        Assert.Equal("measurement", config.GetProperty("state_class").GetString());
        Assert.Equal("iotws/esp-attic/availability", config.GetProperty("availability_topic").GetString());
        Assert.Equal("ESP32 + DHT22", config.GetProperty("device").GetProperty("model").GetString());
        // Retained: a subscriber that arrives later still gets it (a live delivery carries no retain flag).
        var (late, lateInbox) = await Inbox.SubscribeAsync(broker.Port, "homeassistant/sensor/esp-attic_temperature/config");
        await using (late)
        {
            Assert.True((await lateInbox.WaitForAsync("homeassistant/sensor/esp-attic_temperature/config")).Retain);
        }
        await inbox.WaitForAsync("homeassistant/sensor/esp-attic_humidity/config");
        await inbox.WaitForAsync("iotws/gateway/availability", "online");

        var events = gateway.Service<GatewayEvents>();
        events.OnReadingStored(new StoredReading(1, "esp-attic", 1, 1, DateTimeOffset.Parse("2026-11-21T12:00:00Z"), 21.5, 40.25, "dht", "attic"));
        var state = await inbox.WaitForAsync("iotws/esp-attic/state");
        var json = JsonDocument.Parse(state.Payload).RootElement;
        Assert.Equal(21.5, json.GetProperty("temperature").GetDouble());
        Assert.Equal(40.25, json.GetProperty("humidity").GetDouble());
        Assert.Equal("2026-11-21T12:00:00.000Z", json.GetProperty("timestamp").GetString());

        events.OnPresenceChanged(new PresenceChange("esp-attic", "offline", "no heartbeat", DateTimeOffset.UtcNow));
        await inbox.WaitForAsync("iotws/esp-attic/availability", "offline");

        using var http = gateway.Http(gateway.AddKey("viewer"));
        var status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt");
        Assert.True(status.GetProperty("connected").GetBoolean());
    }

    [MosquittoFact]
    public async Task A_device_that_goes_silent_becomes_unavailable_in_mqtt()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker));
        var token = gateway.AddDevice("esp-shed");
        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/esp-shed/availability");
        await using var _ = subscriber;
        // The device declares a 1 s heartbeat and then says nothing: offline after 3 s.
        await using var device = await gateway.ConnectDeviceAsync("esp-shed", token, heartbeatMs: 1000);
        await inbox.WaitForAsync("iotws/esp-shed/availability", "online");
        await Eventually.UntilAsync(() => inbox.Messages is { Count: > 0 } m && m[^1].Text() == "offline", "availability says offline", TimeSpan.FromSeconds(15));
        Assert.Equal(4408, await device.WaitClosedAsync());
    }

    [MosquittoFact]
    public async Task After_the_broker_restarts_the_bridge_republishes_retained_state_and_discovery()
    {
        await using var broker = await MosquittoBroker.StartAsync(persistent: false);
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker));
        gateway.Service<GatewayEvents>().OnReadingStored(new StoredReading(7, "esp-cellar", 1, 1, DateTimeOffset.UtcNow, 12.0, 80.0, null, null));
        var (first, firstInbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/#");
        await firstInbox.WaitForAsync("iotws/esp-cellar/state");
        await first.DisposeAsync();

        await broker.KillAsync();
        await broker.RestartAsync();
        // A non-persistent broker lost every retained message: only the bridge's republish can explain these.
        var (second, inbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/#", "homeassistant/#");
        await using var _ = second;
        await inbox.WaitForAsync("iotws/esp-cellar/state");
        await inbox.WaitForAsync("homeassistant/sensor/esp-cellar_temperature/config");
        await inbox.WaitForAsync("iotws/gateway/availability", "online");
    }

    [MosquittoFact]
    public async Task When_the_gateway_process_is_killed_its_last_will_says_offline()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/gateway/availability");
        await using var _ = subscriber;
        var dir = TestGateway.NewDataDir();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { RepoPaths.GatewayDll, "--urls", "http://127.0.0.1:0", "--data-dir", dir })
            psi.ArgumentList.Add(a);
        foreach (var s in Bridge(broker)) psi.ArgumentList.Add("--Gateway:" + s);
        using var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await Eventually.UntilAsync(() => inbox.Messages.Any(m => m.Text() == "online"), "the gateway says online", TimeSpan.FromSeconds(30));
            process.Kill();
            await process.WaitForExitAsync();
            await Eventually.UntilAsync(() => inbox.Messages is { Count: > 0 } m && m[^1].Text() == "offline", "the last will says offline", TimeSpan.FromSeconds(15));
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }
}
