using IotWs.Mqtt.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace IotWs.Mqtt.Tests;

/// <summary>Behaviour a real broker will not show on demand: bad bytes, silence, lost acknowledgements.</summary>
public class FakeBrokerTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Malformed_packet_from_the_broker_is_logged_and_the_client_reconnects()
    {
        await using var broker = new FakeBroker();
        var logger = new TestLogger<MqttClient>(output);
        await using var client = new MqttClient(TestClients.Options(broker.Port, "c"), logger);
        var connecting = client.ConnectAsync();
        await using var first = await broker.AcceptAsync();
        await first.AcceptConnectAsync();
        await connecting;

        await first.SendRawAsync([0x36, 0x03, 0x00, 0x01, (byte)'t']); // PUBLISH with QoS 3

        await first.WaitForCloseAsync();
        await using var second = await broker.AcceptAsync();
        await second.AcceptConnectAsync();
        await Eventually.UntilAsync(() => client.IsConnected && client.Status.ReconnectCount == 1, "the client is connected again");
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Error && e.Message.Contains("Malformed packet", StringComparison.Ordinal));
        Assert.Contains("QoS 3", client.Status.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Idle_client_pings_and_drops_a_connection_that_never_answers()
    {
        await using var broker = new FakeBroker();
        await using var client = new MqttClient(TestClients.Options(broker.Port, "c") with { KeepAlive = TimeSpan.FromSeconds(1) });
        var connecting = client.ConnectAsync();
        await using var first = await broker.AcceptAsync();
        Assert.Equal(1, (await first.AcceptConnectAsync()).KeepAliveSeconds);
        await connecting;

        await first.ReadAsync<PingReqPacket>();
        await first.WaitForCloseAsync(); // no PINGRESP within the keep-alive

        await using var second = await broker.AcceptAsync();
        await second.AcceptConnectAsync();
        await second.ReadAsync<PingReqPacket>();
        await second.SendAsync(PingRespPacket.Instance);
        await Eventually.UntilAsync(() => client.Status.ReconnectCount == 1 && client.IsConnected, "the client reconnected");
    }

    [Fact]
    public async Task Unacknowledged_qos1_publish_is_sent_again_with_dup_after_the_timeout_and_after_reconnect()
    {
        await using var broker = new FakeBroker();
        await using var client = new MqttClient(TestClients.Options(broker.Port, "c") with { AckTimeout = TimeSpan.FromMilliseconds(300) });
        var connecting = client.ConnectAsync();
        await using var first = await broker.AcceptAsync();
        await first.AcceptConnectAsync();
        await connecting;

        await client.PublishAsync("t", "v"u8.ToArray(), MqttQos.AtLeastOnce);
        var original = await first.ReadAsync<PublishPacket>();
        var retry = await first.ReadAsync<PublishPacket>();
        await first.DisposeAsync();

        await using var second = await broker.AcceptAsync();
        await second.AcceptConnectAsync();
        var afterReconnect = await second.ReadAsync<PublishPacket>();
        await second.SendAsync(new PubAckPacket(afterReconnect.PacketId));

        Assert.False(original.Dup);
        Assert.True(retry.Dup);
        Assert.True(afterReconnect.Dup);
        Assert.Equal([original.PacketId, original.PacketId], new[] { retry.PacketId, afterReconnect.PacketId });
        Assert.Equal("v"u8.ToArray(), afterReconnect.Payload.ToArray());
        await Eventually.UntilAsync(() => client.Status.InflightCount == 0, "the PUBACK clears the in-flight message");
    }

    [Fact]
    public async Task Subscriptions_are_sent_again_after_reconnect_and_connected_fires_each_time()
    {
        await using var broker = new FakeBroker();
        await using var client = new MqttClient(TestClients.Options(broker.Port, "c"));
        var connections = new List<bool>();
        client.Connected += args =>
        {
            lock (connections)
            {
                connections.Add(args.IsReconnect);
            }

            return Task.CompletedTask;
        };
        var connecting = client.ConnectAsync();
        await using var first = await broker.AcceptAsync();
        await first.AcceptConnectAsync();
        await connecting;

        var subscribing = client.SubscribeAsync("iotws/+/cmd", MqttQos.AtLeastOnce);
        var subscribe = await first.ReadAsync<SubscribePacket>();
        await first.SendAsync(new SubAckPacket(subscribe.PacketId, [MqttSubscribeReturnCode.GrantedQos1]));
        await subscribing;
        await first.DisposeAsync();

        await using var second = await broker.AcceptAsync();
        await second.AcceptConnectAsync();
        var again = await second.ReadAsync<SubscribePacket>();
        await second.SendAsync(new SubAckPacket(again.PacketId, [MqttSubscribeReturnCode.GrantedQos1]));

        Assert.Equal([new MqttTopicFilter("iotws/+/cmd", MqttQos.AtLeastOnce)], again.Filters);
        await Eventually.UntilAsync(() => { lock (connections) { return connections.Count == 2; } }, "Connected fired twice");
        Assert.Equal([false, true], connections);
    }

    [Fact]
    public async Task Incoming_qos1_publish_is_delivered_then_acknowledged()
    {
        await using var broker = new FakeBroker();
        await using var client = new MqttClient(TestClients.Options(broker.Port, "c"));
        var inbox = new Inbox();
        client.MessageReceived += inbox.OnMessageAsync;
        var connecting = client.ConnectAsync();
        await using var connection = await broker.AcceptAsync();
        await connection.AcceptConnectAsync();
        await connecting;

        await connection.SendAsync(new PublishPacket("a/b", "p"u8.ToArray()) { Qos = MqttQos.AtLeastOnce, PacketId = 77 });

        Assert.Equal(77, (await connection.ReadAsync<PubAckPacket>()).PacketId);
        await inbox.WaitForAsync("a/b", "p");
    }

    [Fact]
    public async Task Bad_credentials_at_start_fail_ConnectAsync_with_the_return_code()
    {
        await using var broker = new FakeBroker();
        await using var client = new MqttClient(TestClients.Options(broker.Port, "c") with { Username = "u", Password = "wrong" });
        var connecting = client.ConnectAsync();
        await using var connection = await broker.AcceptAsync();
        var connect = await connection.AcceptConnectAsync(MqttConnectReturnCode.BadUsernameOrPassword);

        var ex = await Assert.ThrowsAsync<MqttConnectionRefusedException>(() => connecting);
        Assert.Equal(MqttConnectReturnCode.BadUsernameOrPassword, ex.ReturnCode);
        Assert.Equal("u", connect.Username);
        Assert.Equal("wrong"u8.ToArray(), connect.Password);
    }

    [Fact]
    public async Task Publishing_before_any_connection_queues_up_to_the_bound_and_counts_drops()
    {
        await using var client = new MqttClient(TestClients.Options(1883, "c") with { MaxQueued = 2 });

        for (var i = 0; i < 5; i++)
        {
            await client.PublishAsync("t", new[] { (byte)i });
        }

        Assert.Equal(new MqttClientStatus(false, 2, 0, 3, 0, null), client.Status);
    }

    [Fact]
    public async Task Invalid_topics_and_qos2_are_rejected_at_the_call()
    {
        await using var client = new MqttClient(TestClients.Options(1883, "c"));

        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("a/#", default));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("", default));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("\ud800", default));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.PublishAsync("a", default, MqttQos.ExactlyOnce));
        await Assert.ThrowsAsync<ArgumentException>(() => client.SubscribeAsync("a/#/b"));
        Assert.Throws<ArgumentException>(() => new MqttClient(new MqttClientOptions { CleanSession = false }));
    }
}
