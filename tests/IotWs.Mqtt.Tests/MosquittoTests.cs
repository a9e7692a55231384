using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using IotWs.Mqtt.Tests.Infrastructure;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;
using Xunit.Abstractions;

namespace IotWs.Mqtt.Tests;

/// <summary>The MQTTnet link and the Home Assistant publisher against a real Mosquitto.</summary>
public class MosquittoTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = Eventually.DefaultTimeout;

    [MosquittoFact]
    public async Task Discovery_state_and_availability_are_retained_with_exact_topics_and_fields()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var ha = new HomeAssistantOptions { GatewayId = "pi-1", GatewayVersion = "2.0.0" };
        await using var link = StartLink(broker.Port, "gateway", ha, start: false);
        var publisher = new HomeAssistantPublisher(link, ha);
        link.Connected += publisher.RepublishAll;
        link.Start();

        publisher.PublishDevice("esp32-01", "Living room", "ESP32 + DHT22", "1.2.0");
        publisher.PublishAvailability("esp32-01", online: true);
        publisher.PublishReading("esp32-01", 21.5, 48.25, new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero));
        publisher.PublishDiagnostics("esp32-01", -61, new DateTimeOffset(2026, 11, 21, 12, 0, 1, TimeSpan.Zero), 7);
        await Eventually.UntilAsync(() => link.IsConnected && link.QueueDepth == 0, "everything is acknowledged");
        // A subscriber that arrives afterwards sees it all: only retained messages can explain that.
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "homeassistant/#", "iotws/#");

        var state = await inbox.WaitForAsync("iotws/esp32-01/state");
        Assert.True(state.Retain);
        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, state.Qos);
        Assert.Equal("""{"temperature":21.5,"humidity":48.25,"timestamp":"2026-11-21T12:00:00.000Z"}""", state.Text);
        Assert.True((await inbox.WaitForAsync("iotws/esp32-01/availability", "online")).Retain);
        Assert.True((await inbox.WaitForAsync("iotws/gateway/availability", "online")).Retain);
        Assert.Equal("""{"rssi":-61,"lastSeen":"2026-11-21T12:00:01.000Z","bootId":7}""", (await inbox.WaitForAsync("iotws/esp32-01/diagnostics")).Text);

        var temperature = await inbox.WaitForAsync("homeassistant/sensor/esp32-01_temperature/config");
        Assert.Contains("\"°C\"", temperature.Text, StringComparison.Ordinal);
        using var config = JsonDocument.Parse(temperature.Payload);
        var root = config.RootElement;
        Assert.Equal("temperature", root.GetProperty("device_class").GetString());
        Assert.Equal("measurement", root.GetProperty("state_class").GetString());
        Assert.Equal(1, root.GetProperty("suggested_display_precision").GetInt32());
        Assert.Equal("iotws_esp32-01_temperature", root.GetProperty("unique_id").GetString());
        Assert.Equal("iotws/esp32-01/state", root.GetProperty("state_topic").GetString());
        Assert.Equal("all", root.GetProperty("availability_mode").GetString());
        Assert.Equal(["iotws/gateway/availability", "iotws/esp32-01/availability"], root.GetProperty("availability").EnumerateArray().Select(a => a.GetProperty("topic").GetString()));
        var device = root.GetProperty("device");
        Assert.Equal("Living room", device.GetProperty("name").GetString());
        Assert.Equal("ESP32 + DHT22", device.GetProperty("model").GetString());
        Assert.Equal("1.2.0", device.GetProperty("sw_version").GetString());
        Assert.Equal("iotws_pi-1", device.GetProperty("via_device").GetString());

        var gateway = JsonDocument.Parse((await inbox.WaitForAsync("homeassistant/binary_sensor/pi-1_connectivity/config")).Payload).RootElement;
        Assert.Equal("iotws_pi-1", gateway.GetProperty("device").GetProperty("identifiers")[0].GetString());
        Assert.Equal("2.0.0", gateway.GetProperty("device").GetProperty("sw_version").GetString());
        foreach (var (entity, deviceClass) in new[] { ("rssi", "signal_strength"), ("last_seen", "timestamp"), ("boot", null) })
        {
            var diagnostic = JsonDocument.Parse((await inbox.WaitForAsync($"homeassistant/sensor/esp32-01_{entity}/config")).Payload).RootElement;
            Assert.Equal("diagnostic", diagnostic.GetProperty("entity_category").GetString());
            Assert.Equal("iotws/esp32-01/diagnostics", diagnostic.GetProperty("state_topic").GetString());
            Assert.Equal("all", diagnostic.GetProperty("availability_mode").GetString());
            Assert.Equal(deviceClass, diagnostic.TryGetProperty("device_class", out var c) ? c.GetString() : null);
        }
        // Commands are off: the Reboot button's discovery went out empty, which removes any retained one.
        Assert.Null(inbox.Last("homeassistant/button/esp32-01_reboot/config"));
        Assert.Equal("5.0", link.Status.ProtocolVersion);
    }

    [MosquittoFact(needsClients: true)]
    public async Task Publish_is_seen_by_mosquitto_sub_as_an_independent_peer()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var link = StartLink(broker.Port, "pub");
        var publisher = new HomeAssistantPublisher(link, new HomeAssistantOptions());
        publisher.PublishAvailability("peer", true);
        await Eventually.UntilAsync(() => link.IsConnected && link.QueueDepth == 0, "the retained message is acknowledged");
        using var peer = StartTool(MosquittoBroker.SubscriberPath, "-h", "127.0.0.1", "-p", $"{broker.Port}", "-t", "iotws/peer/availability", "-C", "1", "-W", "5", "-v");

        var printed = await peer.StandardOutput.ReadToEndAsync();
        await peer.WaitForExitAsync(new CancellationTokenSource(Timeout).Token);

        Assert.Equal(0, peer.ExitCode);
        Assert.Equal("iotws/peer/availability online", printed.Trim());
    }

    [MosquittoFact]
    public async Task After_a_broker_restart_the_link_reconnects_republishes_and_renews_its_subscriptions()
    {
        // Not persistent: after the restart the broker knows nothing, so only the republish can explain what a subscriber sees.
        await using var broker = await MosquittoBroker.StartAsync(persistent: false);
        var ha = new HomeAssistantOptions();
        var logger = new TestLogger<MqttLink>(output);
        var commands = new List<string>();
        await using var link = new MqttLink(TestLinks.Options(broker.Port, "gateway") with
        {
            Will = HomeAssistantPublisher.GatewayWill(ha),
            Subscriptions = [HomeAssistantPublisher.CommandFilter(ha)],
        }, logger);
        link.MessageReceived += (topic, _) =>
        {
            lock (commands) commands.Add(topic);
            return Task.CompletedTask;
        };
        var publisher = new HomeAssistantPublisher(link, ha);
        link.Connected += publisher.RepublishAll;
        link.Start();
        publisher.PublishDevice("esp32-01", "Kitchen", "DHT22", "1.0.0");
        publisher.PublishAvailability("esp32-01", online: true);
        publisher.PublishReading("esp32-01", 19.25, 55, DateTimeOffset.UnixEpoch);
        await Eventually.UntilAsync(() => link.IsConnected && link.QueueDepth == 0, "everything is acknowledged");

        await broker.KillAsync();
        await Eventually.UntilAsync(() => !link.IsConnected, "the link notices the broker is gone");
        await broker.RestartAsync();
        await Eventually.UntilAsync(() => link.IsConnected && link.Status.Reconnects == 1, "the link reconnects by itself");

        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "#");
        Assert.Contains("19.25", (await inbox.WaitForAsync("iotws/esp32-01/state")).Text, StringComparison.Ordinal);
        await inbox.WaitForAsync("iotws/esp32-01/availability", "online");
        await inbox.WaitForAsync("iotws/gateway/availability", "online");
        await inbox.WaitForAsync("homeassistant/sensor/esp32-01_temperature/config");
        await inbox.WaitForAsync("homeassistant/sensor/esp32-01_humidity/config");
        await inbox.PublishAsync("iotws/esp32-01/command/ping", "{}");
        await Eventually.UntilAsync(() => { lock (commands) return commands.Contains("iotws/esp32-01/command/ping"); }, "the renewed subscription delivers a command");
        Assert.Contains(logger.Entries, e => e.Message.Contains("Lost the MQTT connection", StringComparison.Ordinal));
    }

    [MosquittoFact]
    public async Task Messages_published_while_the_broker_is_down_are_sent_after_reconnect_and_the_oldest_are_dropped()
    {
        await using var broker = await MosquittoBroker.StartAsync(persistent: false);
        await using var link = StartLink(broker.Port, "gateway", configure: o => o with { QueueCapacity = 3 });
        await Eventually.UntilAsync(() => link.IsConnected, "the link connects");
        await broker.KillAsync();
        await Eventually.UntilAsync(() => !link.IsConnected, "the link notices the broker is gone");

        for (var i = 1; i <= 5; i++)
        {
            link.Publish(new MqttApplicationMessageBuilder().WithTopic($"q/{i}").WithPayload($"m{i}").WithRetainFlag()
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        }

        Assert.Equal((3, 2L), (link.Status.Queued, link.Status.Dropped));
        await broker.RestartAsync();
        await Eventually.UntilAsync(() => link.IsConnected && link.QueueDepth == 0, "the queue is delivered");

        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "q/#");
        // Retained messages come right after SUBACK, so they all precede this marker on the same connection.
        await inbox.PublishAsync("q/end", "end");
        await inbox.WaitForAsync("q/end");
        Assert.Equal(["q/3", "q/4", "q/5"], inbox.Messages.Where(m => m.Retain).Select(m => m.Topic).Order());
        Assert.Equal(2, link.Status.Dropped);
    }

    [MosquittoFact]
    public async Task A_clean_stop_sends_what_is_queued_and_gateway_offline_and_suppresses_the_will()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var ha = new HomeAssistantOptions();
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/#", "will/#");
        await using var link = new MqttLink(TestLinks.Options(broker.Port, "gateway") with
        {
            // A will on its own topic: had the broker sent it, it would show there.
            Will = new MqttApplicationMessageBuilder().WithTopic("will/gateway").WithPayload("dead").Build(),
        });
        var publisher = new HomeAssistantPublisher(link, ha);
        link.Connected += publisher.RepublishAll;
        link.Start();
        await inbox.WaitForAsync("iotws/gateway/availability", "online");

        publisher.PublishReading("dev", 1, 2, DateTimeOffset.UnixEpoch);
        publisher.PublishGatewayOffline();
        await link.StopAsync(Timeout);

        await inbox.WaitForAsync("iotws/dev/state");
        await inbox.WaitForAsync("iotws/gateway/availability", "offline");
        await inbox.PublishAsync("iotws/marker", "m");
        await inbox.WaitForAsync("iotws/marker");
        Assert.DoesNotContain(inbox.Messages, m => m.Topic == "will/gateway");
    }

    [MosquittoFact]
    public async Task Tls_link_publishes_when_the_broker_certificate_is_trusted_by_configuration()
    {
        await using var broker = await MosquittoBroker.StartAsync(tls: true);
        await using var link = StartLink(broker.Port, "tls", configure: o => o with
        {
            UseTls = true,
            TrustedCertificates = [X509CertificateLoader.LoadCertificate(broker.Certificate!.RawData)],
        });
        link.Publish(new MqttApplicationMessageBuilder().WithTopic("secure/kept").WithPayload("over tls").WithRetainFlag()
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        await Eventually.UntilAsync(() => link.IsConnected && link.QueueDepth == 0, "the message is acknowledged over TLS");
    }

    [MosquittoFact]
    public async Task Tls_link_to_an_untrusted_certificate_never_connects()
    {
        await using var broker = await MosquittoBroker.StartAsync(tls: true);
        await using var link = StartLink(broker.Port, "tls", configure: o => o with { UseTls = true });

        await Eventually.UntilAsync(() => link.Status.LastError is not null, "the first attempt fails");
        await Task.Delay(500);

        Assert.False(link.IsConnected);
        output.WriteLine(link.Status.LastError);
    }

    [Fact]
    public async Task A_broker_that_speaks_only_3_1_1_gets_3_1_1()
    {
        // MQTTnet's own server, told to refuse MQTT 5 the way a 3.1.1-only broker answers it.
        var port = MosquittoBroker.FreeLoopbackPort();
        using var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(System.Net.IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        server.ValidatingConnectionAsync += e =>
        {
            if (e.ProtocolVersion != MQTTnet.Formatter.MqttProtocolVersion.V311) e.ReasonCode = MqttConnectReasonCode.UnsupportedProtocolVersion;
            return Task.CompletedTask;
        };
        await server.StartAsync();
        try
        {
            await using var link = StartLink(port, "old-broker");
            link.Publish(new MqttApplicationMessageBuilder().WithTopic("t").WithPayload("x").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

            await Eventually.UntilAsync(() => link.IsConnected && link.QueueDepth == 0, "the link connects with 3.1.1");
            Assert.Equal("3.1.1", link.Status.ProtocolVersion);
        }
        finally
        {
            await server.StopAsync();
        }
    }

    private MqttLink StartLink(int port, string clientId, HomeAssistantOptions? ha = null, Func<MqttLinkOptions, MqttLinkOptions>? configure = null, bool start = true)
    {
        var options = TestLinks.Options(port, clientId) with { Will = ha is null ? null : HomeAssistantPublisher.GatewayWill(ha) };
        var link = new MqttLink(configure?.Invoke(options) ?? options, new TestLogger<MqttLink>(output));
        if (start) link.Start();
        return link;
    }

    private static Process StartTool(string path, params string[] arguments) =>
        Process.Start(new ProcessStartInfo(path, arguments) { RedirectStandardOutput = true, UseShellExecute = false, StandardOutputEncoding = Encoding.UTF8 })
        ?? throw new InvalidOperationException($"{path} did not start");
}
