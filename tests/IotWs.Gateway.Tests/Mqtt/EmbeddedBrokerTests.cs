using System.Text.Json;
using IotWs.Gateway.Tests.Cli;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Rpc;
using IotWs.Mqtt.Tests.Infrastructure;
using MQTTnet.Formatter;

namespace IotWs.Gateway.Tests.Mqtt;

/// <summary>
/// The MQTT broker inside the gateway (Gateway:Mqtt:Broker), with Mosquitto's own command-line clients as its
/// clients: what Home Assistant (or an operator) connecting to the gateway sees and may do.
/// </summary>
public sealed class EmbeddedBrokerTests
{
    private static string[] Broker(int port, params string[] more) =>
        ["Mqtt:Broker:Enabled=true", $"Mqtt:Broker:Port={port}", "Mqtt:Broker:BindAddress=127.0.0.1", .. more];

    /// <summary>A board that has connected and sent one reading, so there is state to see.</summary>
    private static async Task<TestClient> BoardWithReadingAsync(TestGateway gateway, string deviceId)
    {
        var token = gateway.Identities.AddDevice(deviceId, "Attic", null);
        var device = await gateway.ConnectDeviceAsync(deviceId, token);
        await device.SendAsync(new { type = "data", seq = 1, data = new { temperature = 21.5, humidity = 40.25 } });
        await device.ReceiveAsync("data_response");
        return device;
    }

    /// <summary>mosquitto_sub runs of 4 s until one prints a line that matches (the gateway publishes in the background), at most 30 s.</summary>
    private static Task<MosquittoClients.Run> SubscribeUntilAsync(int port, string key, string version, Func<string, bool> wanted, params string[] topics) =>
        SubscribeUntilWithIdAsync(port, key, version, wanted, null, topics);

    private static async Task<MosquittoClients.Run> SubscribeUntilWithIdAsync(int port, string key, string version, Func<string, bool> wanted, string? clientId, params string[] topics)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var seen = clientId is null
                ? await MosquittoClients.SubscribeAsync(port, key, 4, version, topics)
                : await MosquittoClients.SubscribeWithIdAsync(port, key, 4, version, clientId, topics);
            if (seen.OutLines.Any(wanted)) return seen;
            Assert.True(DateTime.UtcNow < deadline, $"mosquitto_sub -V {version} never printed the line it waits for: {seen}");
        }
    }

    [MosquittoFact(needsClients: true)]
    public async Task A_new_mosquitto_sub_with_a_viewer_key_gets_retained_discovery_state_and_availability()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port));
        await using var device = await BoardWithReadingAsync(gateway, "esp-attic");
        var viewer = gateway.AddKey("viewer");

        foreach (var version in new[] { "mqttv311", "mqttv5" })
        {
            // Subscribed after everything was published: only retained messages can reach it.
            var seen = await SubscribeUntilAsync(port, viewer, version, l => l.StartsWith("1 iotws/esp-attic/state ", StringComparison.Ordinal), "iotws/#", "homeassistant/#");
            var lines = seen.OutLines;
            Assert.Contains("1 iotws/gateway/availability online", lines);
            Assert.Contains("1 iotws/esp-attic/availability online", lines);
            var state = JsonDocument.Parse(lines.Single(l => l.StartsWith("1 iotws/esp-attic/state ", StringComparison.Ordinal))["1 iotws/esp-attic/state ".Length..]).RootElement;
            Assert.Equal(21.5, state.GetProperty("temperature").GetDouble());
            var discovery = lines.Single(l => l.StartsWith("1 homeassistant/sensor/esp-attic_temperature/config ", StringComparison.Ordinal));
            var config = JsonDocument.Parse(discovery[(discovery.IndexOf('{', StringComparison.Ordinal))..]).RootElement;
            Assert.Equal("temperature", config.GetProperty("device_class").GetString());
            Assert.Equal("Attic", config.GetProperty("device").GetProperty("name").GetString());
            Assert.Contains(lines, l => l.StartsWith("1 homeassistant/binary_sensor/", StringComparison.Ordinal) && l.Contains("_connectivity/config ", StringComparison.Ordinal));
            Assert.All(lines, l => Assert.StartsWith("1 ", l, StringComparison.Ordinal));
        }

        using var http = gateway.Http(viewer);
        var status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt").GetProperty("embeddedBroker");
        Assert.True(status.GetProperty("running").GetBoolean());
        Assert.Equal(port, status.GetProperty("port").GetInt32());
    }

    [MosquittoFact(needsClients: true)]
    public async Task A_reading_stored_while_mosquitto_sub_listens_arrives_live()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port));
        var token = gateway.AddDevice("esp-live");
        await using var device = await gateway.ConnectDeviceAsync("esp-live", token);
        var viewer = gateway.AddKey("viewer");
        var listening = MosquittoClients.SubscribeFirstLiveAsync(port, viewer, 20, "mqttv311", "iotws/esp-live/state");
        // Readings follow until mosquitto_sub (subscribed at some point) prints a live one.
        for (var seq = 1; !listening.IsCompleted && seq < 60; seq++)
        {
            await device.SendAsync(new { type = "data", seq, data = new { temperature = 19.75, humidity = 55 } });
            await Task.WhenAny(listening, Task.Delay(300));
        }

        var seen = await listening;
        // Live messages reach a subscriber without the retain flag.
        var line = Assert.Single(seen.OutLines);
        Assert.StartsWith("0 iotws/esp-live/state {\"temperature\":19.75,", line, StringComparison.Ordinal);
    }

    [MosquittoFact(needsClients: true)]
    public async Task A_bad_login_is_refused()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port));
        var deviceToken = gateway.AddDevice("esp-1");
        var revoked = gateway.AddKey("viewer", "old-viewer");
        gateway.Identities.RevokeKey("old-viewer");

        foreach (var password in new[] { "not-a-key", deviceToken, revoked })
        {
            var v311 = await MosquittoClients.SubscribeAsync(port, password, 2, "mqttv311", "iotws/#");
            Assert.True(v311.ExitCode != 0, v311.ToString());
            Assert.Equal("Connection error: Connection Refused: bad user name or password.", v311.Err.Trim());
            var v5 = await MosquittoClients.SubscribeAsync(port, password, 2, "mqttv5", "iotws/#");
            Assert.True(v5.ExitCode != 0, v5.ToString());
            Assert.Equal("Connection error: Bad User Name or Password", v5.Err.Trim());
        }

        var anonymous = await MosquittoClients.SubscribeAsync(port, null, 2, "mqttv311", "iotws/#");
        Assert.Equal("Connection error: Connection Refused: bad user name or password.", anonymous.Err.Trim());
        using var http = gateway.Http(gateway.AddKey("viewer"));
        var status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt").GetProperty("embeddedBroker");
        Assert.Equal(7, status.GetProperty("refusedConnections").GetInt64());
    }

    [MosquittoFact(needsClients: true)]
    public async Task An_MQTT_5_client_without_a_client_id_gets_one_assigned_and_an_MQTT_3_1_1_one_is_told_identifier_rejected()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port));
        var viewer = gateway.AddKey("viewer");

        var v5 = await SubscribeUntilWithIdAsync(port, viewer, "mqttv5", l => l == "1 iotws/gateway/availability online", "", "iotws/gateway/availability");
        Assert.Equal(27, v5.ExitCode);
        var v311 = await MosquittoClients.SubscribeWithIdAsync(port, viewer, 2, "mqttv311", "", "iotws/gateway/availability");
        Assert.True(v311.ExitCode != 0, v311.ToString());
        Assert.Equal("Connection error: Connection Refused: identifier rejected.", v311.Err.Trim());
    }

    [MosquittoFact(needsClients: true)]
    public async Task Nobody_but_the_gateway_publishes_under_its_prefix()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port, "Mqtt:Commands:Enabled=true", "Mqtt:Commands:ApiKeyName=ha-tech"));
        await using var device = await BoardWithReadingAsync(gateway, "esp-attic");
        var viewer = gateway.AddKey("viewer");
        var admin = gateway.AddKey("admin");

        foreach (var (key, topic) in new[]
                 {
                     (viewer, "iotws/esp-attic/state"), (admin, "iotws/esp-attic/state"), (admin, "iotws/gateway/availability"),
                     (admin, "iotws/esp-attic/availability"), (admin, "homeassistant/sensor/esp-attic_temperature/config"),
                     (viewer, "iotws/esp-attic/command/reboot"), (admin, "iotws/esp-attic/command/reboot/result"),
                 })
        {
            // MQTT 5 lets the broker say no to a single publish; mosquitto_pub reports it.
            var refused = await MosquittoClients.PublishAsync(port, key, "mqttv5", topic, "forged", retain: true);
            Assert.True(refused.Err.Contains("Not authorized", StringComparison.Ordinal), $"{topic}: {refused}");
            // MQTT 3.1.1 has no refusal for a publish: the broker drops it silently.
            await MosquittoClients.PublishAsync(port, key, "mqttv311", topic, "forged", retain: true);
        }

        // Somewhere else is anyone's (Home Assistant announces itself on homeassistant/status).
        var elsewhere = await MosquittoClients.PublishAsync(port, viewer, "mqttv5", "homeassistant/status", "online", retain: true);
        Assert.True(elsewhere.ExitCode == 0 && elsewhere.Err.Length == 0, elsewhere.ToString());

        var seen = await SubscribeUntilAsync(port, viewer, "mqttv311", l => l == "1 homeassistant/status online", "#");
        Assert.DoesNotContain(seen.OutLines, l => l.Contains("forged", StringComparison.Ordinal));
        Assert.Contains("1 iotws/esp-attic/availability online", seen.OutLines);
        Assert.Contains("1 homeassistant/status online", seen.OutLines);
        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(200)));
        using var http = gateway.Http(admin);
        Assert.Equal("[]", await http.GetStringAsync("/api/rpc"));
    }

    [MosquittoFact(needsClients: true)]
    public async Task A_clients_last_will_under_the_prefix_is_refused_like_any_other_publish()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port));
        var viewer = gateway.AddKey("viewer");
        // A viewer that leaves a will saying the gateway is offline, then dies without DISCONNECT.
        // stdbuf: mosquitto_sub's debug lines would otherwise sit in its stdout buffer until it exits.
        var info = new System.Diagnostics.ProcessStartInfo("stdbuf",
            ["-oL", MosquittoBroker.SubscriberPath, "-d", "-h", "127.0.0.1", "-p", $"{port}", "-i", "forger", "-u", MosquittoClients.User, "-P", viewer, "-t", "x",
             "--will-topic", "iotws/gateway/availability", "--will-payload", "offline", "--will-retain", "--will-qos", "1"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using (var forger = System.Diagnostics.Process.Start(info)!)
        {
            var subscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            forger.OutputDataReceived += (_, e) => { if (e.Data?.Contains("received SUBACK", StringComparison.Ordinal) == true) subscribed.TrySetResult(); };
            forger.BeginOutputReadLine();
            await subscribed.Task.WaitAsync(TimeSpan.FromSeconds(20));
            forger.Kill();
            await forger.WaitForExitAsync();
        }

        // The will went through the same rule as a publish: refused and counted; the retained availability is the gateway's.
        using var http = gateway.Http(viewer);
        await Eventually.UntilAsync(() => JsonDocument.Parse(http.GetStringAsync("/api/status").GetAwaiter().GetResult()).RootElement
            .GetProperty("mqtt").GetProperty("embeddedBroker").GetProperty("refusedPublishes").GetInt64() == 1, "the will is refused");
        var seen = await SubscribeUntilAsync(port, viewer, "mqttv311", l => l.StartsWith("1 iotws/gateway/availability ", StringComparison.Ordinal), "iotws/gateway/availability");
        Assert.Equal(["1 iotws/gateway/availability online"], seen.OutLines);
    }

    [MosquittoFact(needsClients: true)]
    public async Task A_technician_key_may_send_a_command_through_the_embedded_broker_and_gets_the_result()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port, "Mqtt:Commands:Enabled=true", "Mqtt:Commands:ApiKeyName=ha-tech"));
        gateway.AddKey("technician", "ha-tech");
        var technician = gateway.AddKey("technician", "anna");
        await using var device = await BoardWithReadingAsync(gateway, "esp-attic");
        await using var results = await Inbox.SubscribeAsync(port, MosquittoClients.User, gateway.AddKey("viewer"), MqttProtocolVersion.V311, "iotws/esp-attic/command/+/result");

        var sent = await MosquittoClients.PublishAsync(port, technician, "mqttv5", "iotws/esp-attic/command/identify", "{}");
        Assert.True(sent.ExitCode == 0 && sent.Err.Length == 0, sent.ToString());
        var request = await device.ReceiveAsync("request");
        Assert.Equal("identify", request.GetProperty("endpoint").GetString());
        await RpcSteps.AnswerAsync(device, request, new { blinking = true });

        var result = JsonDocument.Parse((await results.WaitForAsync("iotws/esp-attic/command/identify/result")).Payload).RootElement;
        Assert.Equal("succeeded", result.GetProperty("status").GetString());
        // The call runs as the configured key, whoever sent the message.
        Assert.Equal("ha-tech", result.GetProperty("caller").GetString());
    }

    [Fact]
    public async Task The_bridge_pointing_at_the_gateways_own_embedded_broker_is_refused_at_start_in_one_line()
    {
        var dir = TestGateway.NewDataDir();
        try
        {
            var port = MosquittoBroker.FreeLoopbackPort();
            var result = await GatewayCommand.RunAsync("--urls", "http://127.0.0.1:0", "--data-dir", dir,
                "--Gateway:Mqtt:Enabled=true", "--Gateway:Mqtt:Host=127.0.0.1", $"--Gateway:Mqtt:Port={port}",
                "--Gateway:Mqtt:Broker:Enabled=true", $"--Gateway:Mqtt:Broker:Port={port}");

            Assert.True(result.ExitCode == 1, result.ToString());
            var line = Assert.Single(result.ErrLines);
            Assert.Equal(
                $"Configuration error: Gateway:Mqtt:Host 127.0.0.1:{port} is the gateway's own embedded broker (Gateway:Mqtt:Broker): the gateway already publishes to it directly; turn off Gateway:Mqtt:Enabled or point it at another broker.",
                line);
            Assert.DoesNotContain("Now listening", result.Out, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
    [Fact]
    public async Task A_port_already_taken_is_one_line_and_exit_1()
    {
        var dir = TestGateway.NewDataDir();
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        try
        {
            var result = await GatewayCommand.RunAsync("--urls", "http://127.0.0.1:0", "--data-dir", dir,
                "--Gateway:Mqtt:Broker:Enabled=true", $"--Gateway:Mqtt:Broker:Port={port}", "--Gateway:Mqtt:Broker:BindAddress=127.0.0.1");

            Assert.True(result.ExitCode == 1, result.ToString());
            var line = Assert.Single(result.ErrLines);
            Assert.Equal($"error: the embedded MQTT broker cannot listen on 127.0.0.1:{port}: the port is in use (a Mosquitto on this machine? point Gateway:Mqtt at it instead, or choose another Gateway:Mqtt:Broker:Port).", line);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_loopback_bind_address_listens_on_loopback_only()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port));
        using var v4 = new System.Net.Sockets.TcpClient();
        await v4.ConnectAsync(System.Net.IPAddress.Loopback, port);
        // MQTTnet opens an IPv6 "any" listener unless told otherwise: nothing may answer there.
        using var v6 = new System.Net.Sockets.TcpClient(System.Net.Sockets.AddressFamily.InterNetworkV6);
        var refused = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() => v6.ConnectAsync(System.Net.IPAddress.IPv6Loopback, port));
        Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, refused.SocketErrorCode);
    }
}
