using System.Text.Json;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Mqtt;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Readings;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Mqtt;

/// <summary>The gateway's Home Assistant bridge against a real Mosquitto, read by an independent MQTTnet subscriber.</summary>
public sealed class MqttBridgeTests
{
    internal static string[] Bridge(MosquittoBroker broker, params string[] more) =>
    [
        "Mqtt:Enabled=true", "Mqtt:Host=127.0.0.1", $"Mqtt:Port={broker.Port}", $"Mqtt:ClientId=iotws-test-{Guid.NewGuid():N}",
        "Mqtt:ReconnectMin=00:00:00.050", "Mqtt:ReconnectMax=00:00:00.500", .. more,
    ];

    [MosquittoFact]
    public async Task A_connected_board_gets_discovery_state_availability_and_diagnostics()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var dir = TestGateway.NewDataDir();
        await using var gateway = await TestGateway.StartAsync(dir, Bridge(broker));
        var token = gateway.Identities.AddDevice("esp-attic", "Attic", "attic");
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "homeassistant/#", "iotws/#");
        await using var device = await gateway.ConnectDeviceAsync("esp-attic", token, bootId: 42);
        await device.SendAsync(new { type = "heartbeat", uptime = 10, rssi = -58 });
        await device.SendAsync(new { type = "data", seq = 1, data = new { temperature = 21.5, humidity = 40.25 } });

        var state = JsonDocument.Parse((await inbox.WaitForAsync("iotws/esp-attic/state")).Payload).RootElement;
        Assert.Equal(21.5, state.GetProperty("temperature").GetDouble());
        Assert.Equal(40.25, state.GetProperty("humidity").GetDouble());
        await inbox.WaitForAsync("iotws/esp-attic/availability", "online");
        await inbox.WaitForAsync("iotws/gateway/availability", "online");
        await Eventually.UntilAsync(() => inbox.Last("iotws/esp-attic/diagnostics")?.Text.Contains("\"rssi\":-58", StringComparison.Ordinal) == true, "diagnostics carry the heartbeat's RSSI");
        var diagnostics = JsonDocument.Parse(inbox.Last("iotws/esp-attic/diagnostics")!.Payload).RootElement;
        Assert.Equal(42, diagnostics.GetProperty("bootId").GetInt64());
        Assert.True(DateTimeOffset.UtcNow - DateTimeOffset.Parse(diagnostics.GetProperty("lastSeen").GetString()!, System.Globalization.CultureInfo.InvariantCulture) < TimeSpan.FromMinutes(1));

        var config = JsonDocument.Parse((await inbox.WaitForAsync("homeassistant/sensor/esp-attic_temperature/config")).Payload).RootElement;
        Assert.Equal("temperature", config.GetProperty("device_class").GetString());
        Assert.Equal("measurement", config.GetProperty("state_class").GetString());
        Assert.Equal(1, config.GetProperty("suggested_display_precision").GetInt32());
        Assert.Equal("all", config.GetProperty("availability_mode").GetString());
        Assert.Equal(["iotws/gateway/availability", "iotws/esp-attic/availability"], config.GetProperty("availability").EnumerateArray().Select(a => a.GetProperty("topic").GetString()));
        var block = config.GetProperty("device");
        Assert.Equal("Attic", block.GetProperty("name").GetString());
        Assert.Equal(MqttBridge.BoardModel, block.GetProperty("model").GetString());
        Assert.Equal("1.0.0", block.GetProperty("sw_version").GetString());
        Assert.Equal("iotws_esp-attic_temperature", config.GetProperty("unique_id").GetString());
        Assert.Equal("°C", config.GetProperty("unit_of_measurement").GetString());
        Assert.Equal("iotws/esp-attic/state", config.GetProperty("state_topic").GetString());
        // via_device names the gateway's own device, whose discovery is published too.
        var gatewayDevice = block.GetProperty("via_device").GetString()!;
        var connectivity = inbox.Messages.Last(m => m.Topic.StartsWith("homeassistant/binary_sensor/", StringComparison.Ordinal) && m.Topic.EndsWith("_connectivity/config", StringComparison.Ordinal));
        Assert.Equal(gatewayDevice, JsonDocument.Parse(connectivity.Payload).RootElement.GetProperty("device").GetProperty("identifiers")[0].GetString());
        var humidity = JsonDocument.Parse((await inbox.WaitForAsync("homeassistant/sensor/esp-attic_humidity/config")).Payload).RootElement;
        Assert.Equal(("humidity", "measurement", 1, "iotws_esp-attic_humidity"),
            (humidity.GetProperty("device_class").GetString(), humidity.GetProperty("state_class").GetString(), humidity.GetProperty("suggested_display_precision").GetInt32(), humidity.GetProperty("unique_id").GetString()));
        foreach (var (entity, deviceClass) in new[] { ("rssi", "signal_strength"), ("last_seen", "timestamp"), ("boot", null) })
        {
            var diagnostic = JsonDocument.Parse((await inbox.WaitForAsync($"homeassistant/sensor/esp-attic_{entity}/config")).Payload).RootElement;
            Assert.Equal("diagnostic", diagnostic.GetProperty("entity_category").GetString());
            Assert.Equal($"iotws_esp-attic_{entity}", diagnostic.GetProperty("unique_id").GetString());
            Assert.Equal("iotws/esp-attic/diagnostics", diagnostic.GetProperty("state_topic").GetString());
            Assert.Equal("all", diagnostic.GetProperty("availability_mode").GetString());
            Assert.Equal(gatewayDevice, diagnostic.GetProperty("device").GetProperty("via_device").GetString());
            Assert.Equal(deviceClass, diagnostic.TryGetProperty("device_class", out var c) ? c.GetString() : null);
        }

        using var http = gateway.Http(gateway.AddKey("viewer"));
        var status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt");
        Assert.True(status.GetProperty("connected").GetBoolean());
        Assert.Equal("5.0", status.GetProperty("protocolVersion").GetString());
        Assert.Equal(0, status.GetProperty("dropped").GetInt64());
    }

    [MosquittoFact]
    public async Task A_device_that_goes_silent_becomes_unavailable_in_mqtt()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker));
        var token = gateway.AddDevice("esp-shed");
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/esp-shed/availability");
        // The device declares a 1 s heartbeat and then says nothing: stale after 1.5 s, which is already not live.
        await using var device = await gateway.ConnectDeviceAsync("esp-shed", token, heartbeatMs: 1000);
        await inbox.WaitForAsync("iotws/esp-shed/availability", "online");
        await Eventually.UntilAsync(() => inbox.Last("iotws/esp-shed/availability")?.Text == "offline", "availability says offline", TimeSpan.FromSeconds(15));
        Assert.Equal(4408, await device.WaitClosedAsync());
    }

    [MosquittoFact]
    public async Task At_start_each_devices_retained_availability_is_corrected_from_presence()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        // What a crashed gateway leaves behind: the device still "online", retained.
        await using (var crashed = await Inbox.SubscribeAsync(broker.Port))
        {
            await crashed.PublishAsync("iotws/esp-garage/availability", "online", retain: true);
        }
        var dir = TestGateway.NewDataDir();
        new Identity.IdentityStore(new global::IotWs.Gateway.Storage.Sqlite.SqliteCredentialStore(new global::IotWs.Gateway.Storage.Sqlite.SqliteDatabase(dir))).AddDevice("esp-garage", "Garage", null);

        await using var gateway = await TestGateway.StartAsync(dir, Bridge(broker));
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/esp-garage/availability");

        await Eventually.UntilAsync(() => inbox.Last("iotws/esp-garage/availability")?.Text == "offline", "the retained availability says offline");
    }

    [MosquittoFact]
    public async Task After_the_broker_restarts_the_bridge_republishes_retained_state_and_discovery()
    {
        await using var broker = await MosquittoBroker.StartAsync(persistent: false);
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker));
        gateway.Service<GatewayEvents>().OnReadingStored(new StoredReading(7, "esp-cellar", 1, 1, DateTimeOffset.UtcNow, 12.0, 80.0, null, null));
        await using (var first = await Inbox.SubscribeAsync(broker.Port, "iotws/#"))
        {
            await first.WaitForAsync("iotws/esp-cellar/state");
        }

        await broker.KillAsync();
        await broker.RestartAsync();
        // A non-persistent broker lost every retained message: only the bridge's republish can explain these.
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/#", "homeassistant/#");
        await inbox.WaitForAsync("iotws/esp-cellar/state");
        await inbox.WaitForAsync("homeassistant/sensor/esp-cellar_temperature/config");
        await inbox.WaitForAsync("iotws/gateway/availability", "online");
        using var http = gateway.Http(gateway.AddKey("viewer"));
        var status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt");
        Assert.Equal(1, status.GetProperty("reconnects").GetInt64());
    }

    [MosquittoFact]
    public async Task During_a_broker_outage_readings_queue_and_when_the_queue_is_full_the_oldest_are_dropped_and_counted()
    {
        await using var broker = await MosquittoBroker.StartAsync(persistent: false);
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker, "Mqtt:QueueCapacity=100"));
        var bridge = gateway.Service<MqttBridge>();
        await Eventually.UntilAsync(() => bridge.Snapshot()!["connected"]!.GetValue<bool>() && bridge.QueueDepth == 0, "the bridge is connected and idle");
        await broker.KillAsync();
        await Eventually.UntilAsync(() => !bridge.Snapshot()!["connected"]!.GetValue<bool>(), "the bridge notices the broker is gone");

        var events = gateway.Service<GatewayEvents>();
        var start = DateTimeOffset.UtcNow;
        for (var i = 0; i < 150; i++)
        {
            events.OnReadingStored(new StoredReading(i + 1, "esp-loft", 1, i, start.AddSeconds(i), 20 + i / 100.0, 50, null, null));
        }

        using var http = gateway.Http(gateway.AddKey("viewer"));
        var during = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt");
        Assert.Equal(100, during.GetProperty("queued").GetInt32());
        Assert.True(during.GetProperty("dropped").GetInt64() >= 50, during.ToString());
        Assert.Equal(bridge.QueueDepth, during.GetProperty("queued").GetInt32());

        await broker.RestartAsync();
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/esp-loft/state");
        // The newest reading survived the outage (the oldest were dropped).
        await Eventually.UntilAsync(() => inbox.Last("iotws/esp-loft/state")?.Text.Contains("\"temperature\":21.49", StringComparison.Ordinal) == true, "the newest reading arrives");
        await Eventually.UntilAsync(() => bridge.QueueDepth == 0, "the queue drains");
    }

    [MosquittoFact(needsClients: true)]
    public async Task Readings_stored_while_the_broker_is_down_all_reach_a_subscriber_in_order_after_it_returns()
    {
        // A persistent Mosquitto and a subscriber with a persistent session (mosquitto_sub -c, QoS 1): Mosquitto keeps
        // its subscription across the restart and queues every state for it, so it sees each one the bridge delivers.
        await using var broker = await MosquittoBroker.StartAsync(persistent: true);
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker, "Mqtt:QueueCapacity=100"));
        var bridge = gateway.Service<MqttBridge>();
        await Eventually.UntilAsync(() => bridge.Snapshot()!["connected"]!.GetValue<bool>() && bridge.QueueDepth == 0, "the bridge is connected and idle");
        var holder = $"holder-{Guid.NewGuid():N}"[..20];
        string[] Listen(int seconds) => ["-h", "127.0.0.1", "-p", $"{broker.Port}", "-i", holder, "-c", "-q", "1", "-W", $"{seconds}", "-F", "%t %p", "-t", "iotws/esp-loft/state"];
        await MosquittoClients.RunAsync(MosquittoBroker.SubscriberPath, Listen(1));
        var token = gateway.AddDevice("esp-loft");
        await using var device = await gateway.ConnectDeviceAsync("esp-loft", token);

        await broker.StopAsync();
        await Eventually.UntilAsync(() => !bridge.Snapshot()!["connected"]!.GetValue<bool>(), "the bridge notices the broker is gone");
        // Readings keep coming from the board and are stored; their states wait in the bridge's queue.
        const int Readings = 30;
        for (var seq = 1; seq <= Readings; seq++)
        {
            await device.SendAsync(new { type = "data", seq, data = new { temperature = 20 + seq / 10.0, humidity = 50 } });
            Assert.True((await device.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());
        }
        using var http = gateway.Http(gateway.AddKey("viewer"));
        var during = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt");
        Assert.True(during.GetProperty("queued").GetInt32() >= Readings, during.ToString());

        await broker.RestartAsync();
        await Eventually.UntilAsync(() => bridge.Snapshot()!["connected"]!.GetValue<bool>() && bridge.QueueDepth == 0, "the queue is delivered");
        var seen = await MosquittoClients.RunAsync(MosquittoBroker.SubscriberPath, Listen(2));

        // Every state of the outage, oldest first, nothing missing; the republish on reconnect may add the newest again.
        var temperatures = seen.OutLines.Select(l => JsonDocument.Parse(l["iotws/esp-loft/state ".Length..]).RootElement.GetProperty("temperature").GetDouble()).ToList();
        var expected = Enumerable.Range(1, Readings).Select(seq => Math.Round(20 + seq / 10.0, 1)).ToList();
        Assert.True(temperatures.Count >= Readings, seen.ToString());
        Assert.Equal(expected, temperatures.Take(Readings).ToList());
        Assert.All(temperatures.Skip(Readings), t => Assert.Equal(expected[^1], t));
        var after = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt");
        Assert.Equal(0, after.GetProperty("dropped").GetInt64());
    }

    [MosquittoFact]
    public async Task A_clean_stop_publishes_gateway_offline()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/gateway/availability");
        await using (var gateway = await TestGateway.StartAsync(null, Bridge(broker)))
        {
            await inbox.WaitForAsync("iotws/gateway/availability", "online");
        }

        await Eventually.UntilAsync(() => inbox.Last("iotws/gateway/availability")?.Text == "offline", "the gateway says offline");
        await using var late = await Inbox.SubscribeAsync(broker.Port, "iotws/gateway/availability");
        Assert.True((await late.WaitForAsync("iotws/gateway/availability", "offline")).Retain);
    }

    [MosquittoFact]
    public async Task When_the_gateway_process_is_killed_its_will_makes_every_entity_unavailable()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var dir = TestGateway.NewDataDir();
        var identities = new Identity.IdentityStore(new global::IotWs.Gateway.Storage.Sqlite.SqliteCredentialStore(new global::IotWs.Gateway.Storage.Sqlite.SqliteDatabase(dir)));
        var token = identities.AddDevice("esp-porch", "Porch", null);
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "homeassistant/#", "iotws/#");
        await using var gateway = await GatewayProcess.StartAsync(dir, Bridge(broker, "Mqtt:KeepAlive=00:00:05"));
        // The board is connected and online: only the gateway's will can take its values out of view.
        await using var device = await TestClient.ConnectAsync(gateway.WsUri);
        await device.ReceiveAsync("welcome");
        await device.SendAsync(new { type = "handshake", clientType = "microcontroller", capabilities = new[] { "sensor_data" }, version = "1.0.0", deviceId = "esp-porch", bootId = 1, heartbeatInterval = 30000 });
        await device.SendAsync(new { type = "auth", token });
        await device.ReceiveAsync("auth_response");
        await device.SendAsync(new { type = "data", seq = 1, data = new { temperature = 18.5, humidity = 61.0 } });
        await inbox.WaitForAsync("iotws/esp-porch/state", timeout: TimeSpan.FromSeconds(30));
        await inbox.WaitForAsync("iotws/esp-porch/availability", "online");
        await inbox.WaitForAsync("iotws/gateway/availability", "online");

        gateway.Kill();

        await Eventually.UntilAsync(() => inbox.Last("iotws/gateway/availability")?.Text == "offline", "the last will says offline", TimeSpan.FromSeconds(20));
        Assert.Equal("online", inbox.Last("iotws/esp-porch/availability")!.Text);
        var entities = inbox.Messages.Where(m => m.Topic.StartsWith("homeassistant/sensor/esp-porch_", StringComparison.Ordinal) && m.Payload.Length > 0)
            .GroupBy(m => m.Topic).Select(g => JsonDocument.Parse(g.Last().Payload).RootElement).ToList();
        Assert.Equal(5, entities.Count);
        foreach (var entity in entities)
        {
            // Home Assistant's rule for availability_mode "all": available only while every topic says its payload_available.
            Assert.Equal("all", entity.GetProperty("availability_mode").GetString());
            var available = entity.GetProperty("availability").EnumerateArray()
                .All(a => inbox.Last(a.GetProperty("topic").GetString()!)?.Text == a.GetProperty("payload_available").GetString());
            Assert.False(available, $"{entity.GetProperty("unique_id")} would still be shown as live");
        }
    }

    [MosquittoFact(needsClients: true)]
    public async Task Over_TLS_with_the_brokers_CA_file_the_bridge_publishes_and_mosquitto_sub_reads_it_back()
    {
        await using var broker = await MosquittoBroker.StartAsync(tls: true);
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker, "Mqtt:UseTls=true", $"Mqtt:CaCertificate={broker.CertificatePath}"));
        var bridge = gateway.Service<MqttBridge>();
        await Eventually.UntilAsync(() => bridge.Snapshot()!["connected"]!.GetValue<bool>() && bridge.QueueDepth == 0, "the bridge is connected over TLS and idle");

        // Mosquitto's own client, trusting the same file, reads the retained availability over TLS.
        var seen = await MosquittoClients.RunAsync(MosquittoBroker.SubscriberPath,
            ["-h", "127.0.0.1", "-p", $"{broker.Port}", "--cafile", broker.CertificatePath, "-t", "iotws/gateway/availability", "-C", "1", "-W", "10", "-F", "%r %t %p"]);
        Assert.True(seen.ExitCode == 0, seen.ToString());
        Assert.Equal("1 iotws/gateway/availability online", seen.Out.Trim());
    }

    [MosquittoFact]
    public async Task Over_TLS_without_the_CA_file_the_bridge_never_connects_and_status_says_why()
    {
        await using var broker = await MosquittoBroker.StartAsync(tls: true);
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker, "Mqtt:UseTls=true"));
        using var http = gateway.Http(gateway.AddKey("viewer"));
        JsonElement status = default;
        await Eventually.UntilAsync(() =>
        {
            status = JsonDocument.Parse(http.GetStringAsync("/api/status").GetAwaiter().GetResult()).RootElement.GetProperty("mqtt");
            return status.GetProperty("lastError").ValueKind == JsonValueKind.String;
        }, "the status shows the failed attempt");

        Assert.False(status.GetProperty("connected").GetBoolean());
        Assert.Contains("certificate", status.GetProperty("lastError").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_CA_file_that_does_not_exist_stops_the_start_with_its_name()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"iotws-no-ca-{Guid.NewGuid():N}.pem");
        var e = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            TestGateway.StartAsync(null, "Mqtt:Enabled=true", "Mqtt:UseTls=true", $"Mqtt:CaCertificate={missing}"));
        Assert.Equal($"Gateway:Mqtt:CaCertificate {missing} does not exist.", Assert.Single(e.Failures));
    }

    [MosquittoFact]
    public async Task ProtocolVersion_3_1_1_is_used_when_configured()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, Bridge(broker, "Mqtt:ProtocolVersion=3.1.1", "Mqtt:ClientId=iotws-v311-test"));
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/gateway/availability");
        await inbox.WaitForAsync("iotws/gateway/availability", "online");
        var bridge = gateway.Service<MqttBridge>();
        Assert.Equal("3.1.1", bridge.Snapshot()!["protocolVersion"]!.GetValue<string>());
        // The broker's log names the protocol of each connection: p2 is MQTT 3.1.1 (p5 would be MQTT 5).
        await broker.WaitForLogAsync("as iotws-v311-test (p2,");
    }
}
