using System.Text;

namespace IotWs.Mqtt.Tests;

public class CodecTests
{
    private static T RoundTrip<T>(T packet)
        where T : MqttPacket => Assert.IsType<T>(MqttPacketCodec.Decode(MqttPacketCodec.Encode(packet)));

    [Fact]
    public void Connect_with_every_field_survives_a_round_trip()
    {
        var will = new MqttWill("iotws/gateway/availability", "offline"u8.ToArray(), MqttQos.AtLeastOnce, Retain: true);
        var sent = new ConnectPacket("gateway-1")
        {
            Username = "user",
            Password = "sécret"u8.ToArray(),
            KeepAliveSeconds = 30,
            CleanSession = false,
            Will = will,
        };

        var decoded = RoundTrip(sent);

        Assert.Equal("gateway-1", decoded.ClientId);
        Assert.Equal("user", decoded.Username);
        Assert.Equal(sent.Password, decoded.Password);
        Assert.Equal(30, decoded.KeepAliveSeconds);
        Assert.False(decoded.CleanSession);
        Assert.NotNull(decoded.Will);
        Assert.Equal(will.Topic, decoded.Will.Topic);
        Assert.Equal(will.Payload.ToArray(), decoded.Will.Payload.ToArray());
        Assert.Equal(MqttQos.AtLeastOnce, decoded.Will.Qos);
        Assert.True(decoded.Will.Retain);
    }

    [Fact]
    public void Minimal_connect_matches_the_bytes_of_the_spec()
    {
        var bytes = MqttPacketCodec.Encode(new ConnectPacket("a") { KeepAliveSeconds = 60 });

        // 0x10, remaining 13, "MQTT", level 4, flags clean session, keep alive 60, client id "a".
        byte[] expected = [0x10, 13, 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 4, 0x02, 0, 60, 0, 1, (byte)'a'];
        Assert.Equal(expected, bytes);
        var decoded = RoundTrip(new ConnectPacket("a") { KeepAliveSeconds = 60 });
        Assert.Null(decoded.Username);
        Assert.Null(decoded.Password);
        Assert.Null(decoded.Will);
        Assert.True(decoded.CleanSession);
    }

    [Theory]
    [InlineData(false, MqttConnectReturnCode.Accepted)]
    [InlineData(true, MqttConnectReturnCode.NotAuthorized)]
    public void Connack_survives_a_round_trip(bool sessionPresent, MqttConnectReturnCode code)
    {
        Assert.Equal(new ConnAckPacket(sessionPresent, code), RoundTrip(new ConnAckPacket(sessionPresent, code)));
    }

    [Fact]
    public void Qos0_publish_survives_a_round_trip_without_a_packet_id()
    {
        var bytes = MqttPacketCodec.Encode(new PublishPacket("a/b", "hi"u8.ToArray()));
        Assert.Equal(new byte[] { 0x30, 7, 0, 3, (byte)'a', (byte)'/', (byte)'b', (byte)'h', (byte)'i' }, bytes);

        var decoded = Assert.IsType<PublishPacket>(MqttPacketCodec.Decode(bytes));
        Assert.Equal("a/b", decoded.Topic);
        Assert.Equal("hi"u8.ToArray(), decoded.Payload.ToArray());
        Assert.Equal(MqttQos.AtMostOnce, decoded.Qos);
        Assert.False(decoded.Retain);
        Assert.False(decoded.Dup);
    }

    [Fact]
    public void Qos1_publish_keeps_packet_id_retain_and_dup()
    {
        var sent = new PublishPacket("iotws/dev/°C", new byte[300]) { Qos = MqttQos.AtLeastOnce, Retain = true, Dup = true, PacketId = 513 };

        var bytes = MqttPacketCodec.Encode(sent);
        var decoded = RoundTrip(sent);

        Assert.Equal(0x3B, bytes[0]);
        Assert.Equal("iotws/dev/°C", decoded.Topic);
        Assert.Equal(300, decoded.Payload.Length);
        Assert.Equal((MqttQos.AtLeastOnce, true, true, (ushort)513), (decoded.Qos, decoded.Retain, decoded.Dup, decoded.PacketId));
    }

    [Fact]
    public void Empty_payload_publish_survives_a_round_trip()
    {
        Assert.Equal(0, RoundTrip(new PublishPacket("t", ReadOnlyMemory<byte>.Empty) { Retain = true }).Payload.Length);
    }

    [Fact]
    public void Puback_unsuback_and_the_empty_packets_survive_a_round_trip()
    {
        Assert.Equal(new PubAckPacket(65535), RoundTrip(new PubAckPacket(65535)));
        Assert.Equal(new UnsubAckPacket(7), RoundTrip(new UnsubAckPacket(7)));
        Assert.Equal(new byte[] { 0xC0, 0 }, MqttPacketCodec.Encode(PingReqPacket.Instance));
        Assert.Equal(new byte[] { 0xD0, 0 }, MqttPacketCodec.Encode(PingRespPacket.Instance));
        Assert.Equal(new byte[] { 0xE0, 0 }, MqttPacketCodec.Encode(DisconnectPacket.Instance));
        RoundTrip(PingReqPacket.Instance);
        RoundTrip(PingRespPacket.Instance);
        RoundTrip(DisconnectPacket.Instance);
    }

    [Fact]
    public void Subscribe_with_two_filters_survives_a_round_trip()
    {
        var sent = new SubscribePacket(10, [new("iotws/+/state", MqttQos.AtLeastOnce), new("homeassistant/#", MqttQos.AtMostOnce)]);

        var bytes = MqttPacketCodec.Encode(sent);
        var decoded = RoundTrip(sent);

        Assert.Equal(0x82, bytes[0]);
        Assert.Equal(10, decoded.PacketId);
        Assert.Equal(sent.Filters, decoded.Filters);
    }

    [Fact]
    public void Suback_survives_a_round_trip()
    {
        var decoded = RoundTrip(new SubAckPacket(10, [MqttSubscribeReturnCode.GrantedQos1, MqttSubscribeReturnCode.Failure]));

        Assert.Equal(10, decoded.PacketId);
        Assert.Equal([MqttSubscribeReturnCode.GrantedQos1, MqttSubscribeReturnCode.Failure], decoded.ReturnCodes);
    }

    [Fact]
    public void Unsubscribe_survives_a_round_trip()
    {
        var decoded = RoundTrip(new UnsubscribePacket(3, ["a/#", "b/+/c"]));

        Assert.Equal(3, decoded.PacketId);
        Assert.Equal(["a/#", "b/+/c"], decoded.Filters);
        Assert.Equal(0xA2, MqttPacketCodec.Encode(new UnsubscribePacket(3, ["a"]))[0]);
    }

    [Theory]
    [InlineData(0, new byte[] { 0x00 })]
    [InlineData(127, new byte[] { 0x7F })]
    [InlineData(128, new byte[] { 0x80, 0x01 })]
    [InlineData(16_383, new byte[] { 0xFF, 0x7F })]
    [InlineData(16_384, new byte[] { 0x80, 0x80, 0x01 })]
    [InlineData(2_097_151, new byte[] { 0xFF, 0xFF, 0x7F })]
    [InlineData(2_097_152, new byte[] { 0x80, 0x80, 0x80, 0x01 })]
    [InlineData(268_435_455, new byte[] { 0xFF, 0xFF, 0xFF, 0x7F })]
    public void Remaining_length_boundaries_use_the_spec_encoding(int value, byte[] expected)
    {
        var buffer = new byte[4];

        var written = MqttPacketCodec.WriteRemainingLength(value, buffer);

        Assert.Equal(expected, buffer[..written]);
        Assert.Equal(expected.Length, MqttPacketCodec.GetRemainingLengthSize(value));
        Assert.True(MqttPacketCodec.TryReadRemainingLength(expected, out var read, out var consumed));
        Assert.Equal((value, expected.Length), (read, consumed));
    }

    [Fact]
    public void Remaining_length_of_16384_takes_three_bytes()
    {
        Assert.Equal(3, MqttPacketCodec.GetRemainingLengthSize(16_384));
    }

    [Fact]
    public void Remaining_length_above_the_maximum_cannot_be_encoded()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => MqttPacketCodec.GetRemainingLengthSize(268_435_456));
    }

    [Fact]
    public void Publish_just_past_a_length_boundary_survives_a_round_trip()
    {
        // Topic "t" (3 bytes) + 16,381 payload bytes = 16,384: the first three-byte length.
        var bytes = MqttPacketCodec.Encode(new PublishPacket("t", new byte[16_381]));

        Assert.Equal(1 + 3 + 16_384, bytes.Length);
        Assert.Equal(16_381, Assert.IsType<PublishPacket>(MqttPacketCodec.Decode(bytes)).Payload.Length);
    }

    [Fact]
    public void Every_truncation_of_a_valid_packet_is_malformed()
    {
        var bytes = MqttPacketCodec.Encode(new ConnectPacket("client")
        {
            Username = "u",
            Password = [1, 2],
            Will = new MqttWill("w", "x"u8.ToArray()),
        });

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<MqttMalformedPacketException>(() => MqttPacketCodec.Decode(bytes.AsSpan(0, length)));
        }
    }

    public static TheoryData<string, byte[]> MalformedPackets => new()
    {
        { "five-byte remaining length", [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] },
        { "remaining length beyond the buffer", [0x30, 0x05, 0x00, 0x01, (byte)'t'] },
        { "bytes after the packet", [0xC0, 0x00, 0x00] },
        { "publish with qos 3", [0x36, 0x03, 0x00, 0x01, (byte)'t'] },
        { "publish qos 0 with dup", [0x38, 0x03, 0x00, 0x01, (byte)'t'] },
        { "publish string length beyond the buffer", [0x30, 0x03, 0x00, 0x09, (byte)'t'] },
        { "publish topic with U+0000", [0x30, 0x04, 0x00, 0x02, (byte)'t', 0x00] },
        { "publish topic with a wildcard", [0x30, 0x03, 0x00, 0x01, (byte)'#'] },
        { "publish topic of invalid UTF-8", [0x30, 0x03, 0x00, 0x01, 0xFF] },
        { "publish qos 1 with packet id 0", [0x32, 0x05, 0x00, 0x01, (byte)'t', 0x00, 0x00] },
        { "subscribe with reserved flags 0000", [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, (byte)'t', 0x00] },
        { "subscribe with a reserved qos byte", [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, (byte)'t', 0x04] },
        { "subscribe without filters", [0x82, 0x02, 0x00, 0x01] },
        { "puback with flags", [0x41, 0x02, 0x00, 0x01] },
        { "puback too long", [0x40, 0x03, 0x00, 0x01, 0x00] },
        { "pingresp with a body", [0xD0, 0x01, 0x00] },
        { "connack with reserved flag bits", [0x20, 0x02, 0x02, 0x00] },
        { "connack with a reserved return code", [0x20, 0x02, 0x00, 0x06] },
        { "suback with a reserved return code", [0x90, 0x03, 0x00, 0x01, 0x03] },
        { "reserved packet type 0", [0x00, 0x00] },
        { "reserved packet type 15", [0xF0, 0x00] },
        { "connect with the reserved flag", [0x10, 0x0C, 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x04, 0x03, 0x00, 0x00, 0x00, 0x00] },
        { "connect with will qos but no will", [0x10, 0x0C, 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x04, 0x0A, 0x00, 0x00, 0x00, 0x00] },
        { "connect of MQTT 3.1", [0x10, 0x0C, 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x03, 0x02, 0x00, 0x00, 0x00, 0x00] },
    };

    [Theory]
    [MemberData(nameof(MalformedPackets))]
    public void Malformed_input_raises_the_malformed_packet_exception(string why, byte[] bytes)
    {
        var ex = Assert.Throws<MqttMalformedPacketException>(() => MqttPacketCodec.Decode(bytes));
        Assert.False(string.IsNullOrEmpty(ex.Message), why);
    }

    [Fact]
    public void Qos2_flow_packets_are_reported_as_unsupported()
    {
        var ex = Assert.Throws<MqttException>(() => MqttPacketCodec.Decode([0x50, 0x02, 0x00, 0x01]));
        Assert.Contains("QoS 2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encoding_rejects_what_the_spec_forbids()
    {
        Assert.Throws<ArgumentException>(() => MqttPacketCodec.Encode(new PublishPacket("a/+", default)));
        Assert.Throws<ArgumentException>(() => MqttPacketCodec.Encode(new PublishPacket("a\0b", default)));
        Assert.Throws<ArgumentException>(() => MqttPacketCodec.Encode(new PublishPacket("a", default) { Qos = MqttQos.AtLeastOnce }));
        Assert.Throws<ArgumentException>(() => MqttPacketCodec.Encode(new PublishPacket("a", default) { Dup = true }));
        Assert.Throws<ArgumentException>(() => MqttPacketCodec.Encode(new SubscribePacket(1, [new("a/#/b", MqttQos.AtMostOnce)])));
        Assert.Throws<ArgumentException>(() => MqttPacketCodec.Encode(new ConnectPacket("c") { Password = [1] }));
        Assert.Throws<ArgumentException>(() => MqttPacketCodec.Encode(new PublishPacket(new string('x', 70_000), default)));
        Assert.Throws<ArgumentOutOfRangeException>(() => MqttPacketCodec.Encode(new PublishPacket("a", default) { Qos = (MqttQos)3 }));
    }

    [Fact]
    public void Strings_are_utf8_with_a_two_byte_length()
    {
        var bytes = MqttPacketCodec.Encode(new PublishPacket("°", default));

        Assert.Equal(new byte[] { 0x30, 4, 0, 2, 0xC2, 0xB0 }, bytes);
        Assert.Equal("°", Encoding.UTF8.GetString(bytes, 4, 2));
    }
}
