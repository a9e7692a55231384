using System.Diagnostics;
using System.Text;
using System.Text.Json;
using IotWs.Mqtt.Tests.Infrastructure;
using Xunit.Abstractions;

namespace IotWs.Mqtt.Tests;

/// <summary>Our client and the Home Assistant publisher against a real Mosquitto.</summary>
public class MosquittoTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = Eventually.DefaultTimeout;

    [MosquittoFact]
    public async Task Qos0_and_qos1_messages_reach_a_subscriber()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "t/#");
        await using var _ = subscriber;
        await using var publisher = await ConnectedClientAsync(broker.Port, "pub");

        await publisher.PublishAsync("t/zero", "a"u8.ToArray(), MqttQos.AtMostOnce);
        await publisher.PublishAsync("t/one", "b"u8.ToArray(), MqttQos.AtLeastOnce);

        Assert.Equal(MqttQos.AtMostOnce, (await inbox.WaitForAsync("t/zero", "a")).Qos);
        var one = await inbox.WaitForAsync("t/one", "b");
        Assert.Equal(MqttQos.AtLeastOnce, one.Qos);
        Assert.False(one.Retain);
        await Eventually.UntilAsync(() => publisher.Status.InflightCount == 0, "the broker acknowledged the QoS 1 message");
    }

    [MosquittoFact(needsClients: true)]
    public async Task Publish_is_seen_by_mosquitto_sub_as_an_independent_peer()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var publisher = await ConnectedClientAsync(broker.Port, "pub");
        using var peer = StartTool(MosquittoBroker.SubscriberPath, "-h", "127.0.0.1", "-p", $"{broker.Port}", "-t", "iotws/peer", "-q", "1", "-C", "1", "-W", "5", "-v");
        var printed = peer.StandardOutput.ReadToEndAsync();

        // mosquitto_sub says nothing when its subscription is in place, so publish until it has seen one.
        var deadline = DateTime.UtcNow + Timeout;
        while (!peer.HasExited && DateTime.UtcNow < deadline)
        {
            await publisher.PublishAsync("iotws/peer", "hello °C"u8.ToArray(), MqttQos.AtLeastOnce);
            await Task.Delay(100);
        }

        await peer.WaitForExitAsync(new CancellationTokenSource(Timeout).Token);
        Assert.Equal(0, peer.ExitCode);
        Assert.Equal("iotws/peer hello °C", (await printed).Trim());
    }

    [MosquittoFact(needsClients: true)]
    public async Task Message_from_mosquitto_pub_reaches_our_subscriber()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/in");
        await using var _ = subscriber;

        using var peer = StartTool(MosquittoBroker.PublisherPath, "-h", "127.0.0.1", "-p", $"{broker.Port}", "-t", "iotws/in", "-q", "1", "-m", "from peer");
        await peer.WaitForExitAsync(new CancellationTokenSource(Timeout).Token);

        Assert.Equal(MqttQos.AtLeastOnce, (await inbox.WaitForAsync("iotws/in", "from peer")).Qos);
    }

    [MosquittoFact]
    public async Task Retained_message_is_delivered_to_a_late_subscriber()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using (var publisher = await ConnectedClientAsync(broker.Port, "pub"))
        {
            await publisher.PublishAsync("iotws/kept", "42"u8.ToArray(), MqttQos.AtLeastOnce, retain: true);
            await Eventually.UntilAsync(() => publisher.Status.InflightCount == 0 && publisher.Status.QueuedCount == 0, "the retained message is acknowledged");
        }

        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/#");
        await using var _ = subscriber;

        Assert.True((await inbox.WaitForAsync("iotws/kept", "42")).Retain);
    }

    [MosquittoFact]
    public async Task Discovery_and_state_reach_a_subscriber_with_exact_topics_and_fields()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var ha = new HomeAssistantOptions { GatewayId = "pi-1" };
        await using var gateway = new MqttClient(TestClients.Options(broker.Port, "gateway") with { Will = HomeAssistantPublisher.GatewayWill(ha) });
        using var publisher = new HomeAssistantPublisher(gateway, ha);
        await gateway.ConnectAsync(new CancellationTokenSource(Timeout).Token);

        await publisher.PublishDiscoveryAsync("esp32-01", "Living room", "DHT22", "1.2.0");
        await publisher.PublishAvailabilityAsync("esp32-01", online: true);
        await publisher.PublishReadingAsync("esp32-01", 21.5, 48.25, new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero));
        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "homeassistant/#", "iotws/#");
        await using var _ = subscriber;

        var state = await inbox.WaitForAsync("iotws/esp32-01/state");
        Assert.True(state.Retain);
        Assert.Equal("""{"temperature":21.5,"humidity":48.25,"timestamp":"2026-11-21T12:00:00.000Z"}""", state.Text());
        Assert.True((await inbox.WaitForAsync("iotws/esp32-01/availability", "online")).Retain);
        Assert.True((await inbox.WaitForAsync("iotws/gateway/availability", "online")).Retain);

        var temperature = await inbox.WaitForAsync("homeassistant/sensor/esp32-01_temperature/config");
        Assert.True(temperature.Payload.Span.IndexOf("\"°C\""u8) >= 0, "the degree sign is raw UTF-8, not \\u00B0");
        using var config = JsonDocument.Parse(temperature.Payload);
        var root = config.RootElement;
        Assert.Equal("temperature", root.GetProperty("device_class").GetString());
        Assert.Equal("°C", root.GetProperty("unit_of_measurement").GetString());
        Assert.Equal("measurement", root.GetProperty("state_class").GetString());
        Assert.Equal("iotws/esp32-01/state", root.GetProperty("state_topic").GetString());
        Assert.Equal("{{ value_json.temperature }}", root.GetProperty("value_template").GetString());
        Assert.Equal("iotws/esp32-01/availability", root.GetProperty("availability_topic").GetString());
        Assert.Equal("Living room", root.GetProperty("device").GetProperty("name").GetString());

        using var humidity = JsonDocument.Parse((await inbox.WaitForAsync("homeassistant/sensor/esp32-01_humidity/config")).Payload);
        Assert.Equal("humidity", humidity.RootElement.GetProperty("device_class").GetString());
        Assert.Equal("%", humidity.RootElement.GetProperty("unit_of_measurement").GetString());
    }

    [MosquittoFact]
    public async Task After_a_broker_restart_the_client_reconnects_and_republishes_retained_state()
    {
        // Not persistent: after the restart the broker knows nothing, so only the republish can explain what a subscriber sees.
        await using var broker = await MosquittoBroker.StartAsync(persistent: false);
        var ha = new HomeAssistantOptions();
        var logger = new TestLogger<MqttClient>(output);
        await using var gateway = new MqttClient(TestClients.Options(broker.Port, "gateway") with { Will = HomeAssistantPublisher.GatewayWill(ha) }, logger);
        using var publisher = new HomeAssistantPublisher(gateway, ha);
        await gateway.ConnectAsync(new CancellationTokenSource(Timeout).Token);
        await publisher.PublishDiscoveryAsync("esp32-01", "Kitchen", "DHT22", "1.0.0");
        await publisher.PublishAvailabilityAsync("esp32-01", online: true);
        await publisher.PublishReadingAsync("esp32-01", 19.25, 55, DateTimeOffset.UnixEpoch);
        var (listener, live) = await Inbox.SubscribeAsync(broker.Port, "live/#");
        await using var _ = listener;
        await Eventually.UntilAsync(() => gateway.Status is { QueuedCount: 0, InflightCount: 0 }, "everything is acknowledged");

        await broker.KillAsync();
        await Eventually.UntilAsync(() => !gateway.IsConnected, "the client notices the broker is gone");
        await broker.RestartAsync();
        await Eventually.UntilAsync(() => gateway.IsConnected && gateway.Status.ReconnectCount == 1, "the client reconnects by itself");

        var (late, inbox) = await Inbox.SubscribeAsync(broker.Port, "#");
        await using var __ = late;
        Assert.Contains("19.25", (await inbox.WaitForAsync("iotws/esp32-01/state")).Text(), StringComparison.Ordinal);
        await inbox.WaitForAsync("iotws/esp32-01/availability", "online");
        await inbox.WaitForAsync("iotws/gateway/availability", "online");
        await inbox.WaitForAsync("homeassistant/sensor/esp32-01_temperature/config");
        await inbox.WaitForAsync("homeassistant/sensor/esp32-01_humidity/config");

        // The other client's subscription was restored after its own reconnect.
        await Eventually.UntilAsync(() => listener.IsConnected, "the listener reconnects");
        await gateway.PublishAsync("live/after-restart", "x"u8.ToArray(), MqttQos.AtLeastOnce);
        await live.WaitForAsync("live/after-restart", "x");
        Assert.Contains(logger.Entries, e => e.Message.Contains("Lost the MQTT connection", StringComparison.Ordinal));
    }

    [MosquittoFact]
    public async Task Messages_published_while_the_broker_is_down_are_sent_after_reconnect_and_the_oldest_are_dropped()
    {
        await using var broker = await MosquittoBroker.StartAsync(persistent: false);
        await using var gateway = await ConnectedClientAsync(broker.Port, "gateway", o => o with { MaxQueued = 3 });
        await broker.KillAsync();
        await Eventually.UntilAsync(() => !gateway.IsConnected, "the client notices the broker is gone");

        for (var i = 1; i <= 5; i++)
        {
            await gateway.PublishAsync($"q/{i}", Encoding.UTF8.GetBytes($"m{i}"), MqttQos.AtLeastOnce, retain: true);
        }

        Assert.Equal((3, 2L), (gateway.Status.QueuedCount, gateway.Status.DroppedCount));
        await broker.RestartAsync();
        await Eventually.UntilAsync(() => gateway.Status is { IsConnected: true, QueuedCount: 0, InflightCount: 0 }, "the queue is delivered");

        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "q/#");
        await using var _ = subscriber;
        // Retained messages come right after SUBACK, so they all precede this marker on the same connection.
        await subscriber.PublishAsync("q/end", "end"u8.ToArray(), MqttQos.AtLeastOnce);
        await inbox.WaitForAsync("q/end");

        Assert.Equal(["q/3", "q/4", "q/5"], inbox.Messages.Where(m => m.Retain).Select(m => m.Topic).Order());
        Assert.Equal(2, gateway.Status.DroppedCount);
    }

    [MosquittoFact]
    public async Task Last_will_offline_reaches_a_subscriber_when_the_gateway_client_dies()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var ha = new HomeAssistantOptions();
        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/gateway/availability");
        await using var _ = subscriber;
        await using var gateway = new MqttClient(TestClients.Options(broker.Port, "gateway") with { Will = HomeAssistantPublisher.GatewayWill(ha) });
        using var publisher = new HomeAssistantPublisher(gateway, ha);
        await gateway.ConnectAsync(new CancellationTokenSource(Timeout).Token);
        await inbox.WaitForAsync("iotws/gateway/availability", "online");

        gateway.AbortForTest();

        await inbox.WaitForAsync("iotws/gateway/availability", "offline");
        var (late, lateInbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/gateway/availability");
        await using var __ = late;
        Assert.True((await lateInbox.WaitForAsync("iotws/gateway/availability", "offline")).Retain);
    }

    [MosquittoFact]
    public async Task Disconnect_sends_what_is_queued_first_and_suppresses_the_will()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        var ha = new HomeAssistantOptions();
        var (subscriber, inbox) = await Inbox.SubscribeAsync(broker.Port, "iotws/#");
        await using var _ = subscriber;
        await using var gateway = new MqttClient(TestClients.Options(broker.Port, "gateway") with { Will = HomeAssistantPublisher.GatewayWill(ha) });
        using var publisher = new HomeAssistantPublisher(gateway, ha);
        await gateway.ConnectAsync(new CancellationTokenSource(Timeout).Token);

        await publisher.PublishReadingAsync("dev", 1, 2, DateTimeOffset.UnixEpoch);
        await gateway.DisconnectAsync(new CancellationTokenSource(Timeout).Token);

        await inbox.WaitForAsync("iotws/dev/state");
        Assert.False(gateway.IsConnected);
        // A marker published after the disconnect: had the will fired, "offline" would have come before it.
        await subscriber.PublishAsync("iotws/marker", "m"u8.ToArray(), MqttQos.AtLeastOnce);
        await inbox.WaitForAsync("iotws/marker");
        Assert.DoesNotContain(inbox.Messages, m => m.Text() == "offline");
    }

    [MosquittoFact]
    public async Task Tls_connection_publishes_and_subscribes_when_the_broker_certificate_is_trusted()
    {
        await using var broker = await MosquittoBroker.StartAsync(tls: true);
        var trusted = broker.Certificate!.GetCertHashString();
        await using var client = new MqttClient(
            TestClients.Options(broker.Port, "tls") with
            {
                UseTls = true,
                CertificateValidation = (_, certificate, _, _) => certificate?.GetCertHashString() == trusted,
            },
            new TestLogger<MqttClient>(output));
        var inbox = new Inbox();
        client.MessageReceived += inbox.OnMessageAsync;

        await client.ConnectAsync(new CancellationTokenSource(Timeout).Token);
        await client.SubscribeAsync("secure/#", MqttQos.AtLeastOnce);
        await client.PublishAsync("secure/echo", "over tls"u8.ToArray(), MqttQos.AtLeastOnce);

        await inbox.WaitForAsync("secure/echo", "over tls");
    }

    [MosquittoFact]
    public async Task Tls_connection_to_an_untrusted_certificate_never_connects()
    {
        await using var broker = await MosquittoBroker.StartAsync(tls: true);
        await using var client = new MqttClient(TestClients.Options(broker.Port, "tls") with { UseTls = true });

        var connecting = client.ConnectAsync();

        await Eventually.UntilAsync(() => client.Status.LastError is not null, "the first attempt fails");
        Assert.StartsWith("AuthenticationException", client.Status.LastError, StringComparison.Ordinal);
        Assert.False(client.IsConnected);
        Assert.False(connecting.IsCompleted);
    }

    private async Task<MqttClient> ConnectedClientAsync(int port, string clientId, Func<MqttClientOptions, MqttClientOptions>? configure = null)
    {
        var options = TestClients.Options(port, clientId);
        var client = new MqttClient(configure?.Invoke(options) ?? options, new TestLogger<MqttClient>(output));
        await client.ConnectAsync(new CancellationTokenSource(Timeout).Token);
        return client;
    }

    private static Process StartTool(string path, params string[] arguments) =>
        Process.Start(new ProcessStartInfo(path, arguments) { RedirectStandardOutput = true, UseShellExecute = false, StandardOutputEncoding = Encoding.UTF8 })
        ?? throw new InvalidOperationException($"{path} did not start");
}
