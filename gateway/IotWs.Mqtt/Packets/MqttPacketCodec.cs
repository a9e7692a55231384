using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace IotWs.Mqtt;

/// <summary>Encodes and decodes MQTT 3.1.1 control packets (spec chapters 2 and 3); knows nothing of sockets.</summary>
public static class MqttPacketCodec
{
    /// <summary>The largest value four remaining-length bytes can carry (spec 2.2.3).</summary>
    public const int MaxRemainingLength = 268_435_455;

    private const byte ProtocolLevel = 4;

    // Strict: ill-formed UTF-8 is a protocol violation (MQTT-1.5.3-1), not something to repair with U+FFFD.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Encodes one packet, fixed header included. Invalid packets throw <see cref="ArgumentException"/>.</summary>
    public static byte[] Encode(MqttPacket packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        var body = new ArrayBufferWriter<byte>();
        var flags = packet switch
        {
            ConnectPacket connect => WriteConnect(body, connect),
            ConnAckPacket ack => WriteConnAck(body, ack),
            PublishPacket publish => WritePublish(body, publish),
            PubAckPacket ack => WriteId(body, ack.PacketId, 0),
            SubscribePacket subscribe => WriteSubscribe(body, subscribe),
            SubAckPacket ack => WriteSubAck(body, ack),
            UnsubscribePacket unsubscribe => WriteUnsubscribe(body, unsubscribe),
            UnsubAckPacket ack => WriteId(body, ack.PacketId, 0),
            PingReqPacket or PingRespPacket or DisconnectPacket => 0,
            _ => throw new ArgumentException($"Packet type {packet.Type} is not supported.", nameof(packet)),
        };

        var length = body.WrittenCount;
        if (length > MaxRemainingLength)
        {
            throw new ArgumentException($"The packet is {length} bytes long; MQTT allows at most {MaxRemainingLength}.", nameof(packet));
        }

        var result = new byte[1 + GetRemainingLengthSize(length) + length];
        result[0] = (byte)(((int)packet.Type << 4) | flags);
        var used = WriteRemainingLength(length, result.AsSpan(1));
        body.WrittenSpan.CopyTo(result.AsSpan(1 + used));
        return result;
    }

    /// <summary>Decodes exactly one whole packet; anything short, long or ill-formed throws <see cref="MqttMalformedPacketException"/>.</summary>
    public static MqttPacket Decode(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 2)
        {
            throw Malformed($"A packet needs at least 2 bytes; got {packet.Length}.");
        }

        if (!TryReadRemainingLength(packet[1..], out var length, out var used))
        {
            throw Malformed("The remaining length is cut off.");
        }

        var available = packet.Length - 1 - used;
        if (length > available)
        {
            throw Malformed($"The remaining length {length} exceeds the {available} bytes present.");
        }

        if (length < available)
        {
            throw Malformed($"{available - length} bytes follow the end of the packet.");
        }

        return DecodeBody(packet[0], packet.Slice(1 + used, length));
    }

    /// <summary>Decodes a packet from its first header byte and its body (the remaining-length bytes).</summary>
    public static MqttPacket DecodeBody(byte fixedHeader, ReadOnlySpan<byte> body)
    {
        var type = (MqttPacketType)(fixedHeader >> 4);
        var flags = fixedHeader & 0x0F;
        var reader = new Reader(body);
        MqttPacket packet;
        switch (type)
        {
            case MqttPacketType.Connect:
                RequireFlags(type, flags, 0);
                packet = ReadConnect(ref reader);
                break;
            case MqttPacketType.ConnAck:
                RequireFlags(type, flags, 0);
                packet = ReadConnAck(ref reader);
                break;
            case MqttPacketType.Publish:
                return ReadPublish(ref reader, flags);
            case MqttPacketType.PubAck:
                RequireFlags(type, flags, 0);
                packet = new PubAckPacket(reader.ReadPacketId());
                break;
            case MqttPacketType.Subscribe:
                RequireFlags(type, flags, 2);
                packet = ReadSubscribe(ref reader);
                break;
            case MqttPacketType.SubAck:
                RequireFlags(type, flags, 0);
                packet = ReadSubAck(ref reader);
                break;
            case MqttPacketType.Unsubscribe:
                RequireFlags(type, flags, 2);
                packet = ReadUnsubscribe(ref reader);
                break;
            case MqttPacketType.UnsubAck:
                RequireFlags(type, flags, 0);
                packet = new UnsubAckPacket(reader.ReadPacketId());
                break;
            case MqttPacketType.PingReq:
                RequireFlags(type, flags, 0);
                packet = PingReqPacket.Instance;
                break;
            case MqttPacketType.PingResp:
                RequireFlags(type, flags, 0);
                packet = PingRespPacket.Instance;
                break;
            case MqttPacketType.Disconnect:
                RequireFlags(type, flags, 0);
                packet = DisconnectPacket.Instance;
                break;
            case MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp:
                // Well-formed but part of the QoS 2 flow, which this library never starts.
                throw new MqttException($"{type} belongs to QoS 2, which this library does not support.");
            default:
                throw Malformed($"Packet type {(int)type} is reserved.");
        }

        reader.EnsureEnd(type);
        return packet;
    }

    /// <summary>How many bytes the remaining length <paramref name="value"/> takes (1 to 4).</summary>
    public static int GetRemainingLengthSize(int value) => value switch
    {
        < 0 or > MaxRemainingLength => throw new ArgumentOutOfRangeException(nameof(value), value, "Remaining length out of range."),
        < 128 => 1,
        < 16_384 => 2,
        < 2_097_152 => 3,
        _ => 4,
    };

    /// <summary>Writes the variable-length remaining length (spec 2.2.3) and returns the bytes written.</summary>
    public static int WriteRemainingLength(int value, Span<byte> destination)
    {
        var size = GetRemainingLengthSize(value);
        for (var i = 0; i < size; i++)
        {
            var digit = (byte)(value & 0x7F);
            value >>= 7;
            destination[i] = value > 0 ? (byte)(digit | 0x80) : digit;
        }

        return size;
    }

    /// <summary>
    /// Reads a remaining length. False means more bytes are needed; a fifth length byte throws
    /// <see cref="MqttMalformedPacketException"/>.
    /// </summary>
    public static bool TryReadRemainingLength(ReadOnlySpan<byte> source, out int value, out int consumed)
    {
        value = 0;
        for (var i = 0; i < 4; i++)
        {
            if (i >= source.Length)
            {
                value = 0;
                consumed = 0;
                return false;
            }

            value |= (source[i] & 0x7F) << (7 * i);
            if ((source[i] & 0x80) == 0)
            {
                consumed = i + 1;
                return true;
            }
        }

        throw Malformed("The remaining length uses more than 4 bytes.");
    }

    internal static MqttMalformedPacketException Malformed(string message) => new(message);

    private static void RequireFlags(MqttPacketType type, int flags, int expected)
    {
        if (flags != expected)
        {
            throw Malformed($"{type} must have fixed-header flags {expected:X}; got {flags:X}.");
        }
    }

    private static int WriteConnect(ArrayBufferWriter<byte> body, ConnectPacket connect)
    {
        if (connect.Password is not null && connect.Username is null)
        {
            throw new ArgumentException("MQTT 3.1.1 does not allow a password without a user name (MQTT-3.1.2-22).", nameof(connect));
        }

        var will = connect.Will;
        if (will is not null)
        {
            CheckQos(will.Qos);
            CheckTopicName(will.Topic);
        }

        var flags = (connect.CleanSession ? 0x02 : 0)
            | (will is null ? 0 : 0x04 | ((int)will.Qos << 3) | (will.Retain ? 0x20 : 0))
            | (connect.Password is null ? 0 : 0x40)
            | (connect.Username is null ? 0 : 0x80);

        WriteString(body, "MQTT");
        WriteByte(body, ProtocolLevel);
        WriteByte(body, (byte)flags);
        WriteUInt16(body, connect.KeepAliveSeconds);
        WriteString(body, connect.ClientId);
        if (will is not null)
        {
            WriteString(body, will.Topic);
            WriteBinary(body, will.Payload.Span);
        }

        if (connect.Username is not null)
        {
            WriteString(body, connect.Username);
        }

        if (connect.Password is not null)
        {
            WriteBinary(body, connect.Password);
        }

        return 0;
    }

    private static int WriteConnAck(ArrayBufferWriter<byte> body, ConnAckPacket ack)
    {
        WriteByte(body, ack.SessionPresent ? (byte)1 : (byte)0);
        WriteByte(body, (byte)ack.ReturnCode);
        return 0;
    }

    private static int WritePublish(ArrayBufferWriter<byte> body, PublishPacket publish)
    {
        CheckQos(publish.Qos);
        CheckTopicName(publish.Topic);
        if (publish.Qos == MqttQos.AtMostOnce && publish.Dup)
        {
            throw new ArgumentException("DUP must be 0 for QoS 0 (MQTT-3.3.1-2).", nameof(publish));
        }

        WriteString(body, publish.Topic);
        if (publish.Qos != MqttQos.AtMostOnce)
        {
            WritePacketId(body, publish.PacketId);
        }

        body.Write(publish.Payload.Span);
        return (publish.Dup ? 0x08 : 0) | ((int)publish.Qos << 1) | (publish.Retain ? 0x01 : 0);
    }

    private static int WriteSubscribe(ArrayBufferWriter<byte> body, SubscribePacket subscribe)
    {
        if (subscribe.Filters.Count == 0)
        {
            throw new ArgumentException("SUBSCRIBE needs at least one filter (MQTT-3.8.3-3).", nameof(subscribe));
        }

        WritePacketId(body, subscribe.PacketId);
        foreach (var filter in subscribe.Filters)
        {
            CheckTopicFilter(filter.Filter);
            CheckQos(filter.Qos);
            WriteString(body, filter.Filter);
            WriteByte(body, (byte)filter.Qos);
        }

        return 0x02;
    }

    private static int WriteSubAck(ArrayBufferWriter<byte> body, SubAckPacket ack)
    {
        WritePacketId(body, ack.PacketId);
        foreach (var code in ack.ReturnCodes)
        {
            WriteByte(body, (byte)code);
        }

        return 0;
    }

    private static int WriteUnsubscribe(ArrayBufferWriter<byte> body, UnsubscribePacket unsubscribe)
    {
        if (unsubscribe.Filters.Count == 0)
        {
            throw new ArgumentException("UNSUBSCRIBE needs at least one filter (MQTT-3.10.3-2).", nameof(unsubscribe));
        }

        WritePacketId(body, unsubscribe.PacketId);
        foreach (var filter in unsubscribe.Filters)
        {
            CheckTopicFilter(filter);
            WriteString(body, filter);
        }

        return 0x02;
    }

    private static int WriteId(ArrayBufferWriter<byte> body, ushort packetId, int flags)
    {
        WritePacketId(body, packetId);
        return flags;
    }

    private static void CheckQos(MqttQos qos)
    {
        if (qos is not (MqttQos.AtMostOnce or MqttQos.AtLeastOnce or MqttQos.ExactlyOnce))
        {
            throw new ArgumentOutOfRangeException(nameof(qos), qos, "QoS must be 0, 1 or 2.");
        }
    }

    private static void CheckTopicName(string topic)
    {
        if (!MqttTopic.IsValidTopicName(topic))
        {
            throw new ArgumentException($"'{topic}' is not a valid topic name.", nameof(topic));
        }
    }

    private static void CheckTopicFilter(string filter)
    {
        if (!MqttTopic.IsValidTopicFilter(filter))
        {
            throw new ArgumentException($"'{filter}' is not a valid topic filter.", nameof(filter));
        }
    }

    private static void WriteByte(ArrayBufferWriter<byte> body, byte value)
    {
        body.GetSpan(1)[0] = value;
        body.Advance(1);
    }

    private static void WriteUInt16(ArrayBufferWriter<byte> body, ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(body.GetSpan(2), value);
        body.Advance(2);
    }

    private static void WritePacketId(ArrayBufferWriter<byte> body, ushort packetId)
    {
        if (packetId == 0)
        {
            throw new ArgumentException("Packet identifiers must be non-zero (MQTT-2.3.1-1).", nameof(packetId));
        }

        WriteUInt16(body, packetId);
    }

    private static void WriteString(ArrayBufferWriter<byte> body, string value)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("MQTT strings must not contain U+0000 (MQTT-1.5.3-2).", nameof(value));
        }

        WriteBinary(body, StrictUtf8.GetBytes(value));
    }

    private static void WriteBinary(ArrayBufferWriter<byte> body, ReadOnlySpan<byte> value)
    {
        if (value.Length > ushort.MaxValue)
        {
            throw new ArgumentException($"A length-prefixed field holds at most 65,535 bytes; got {value.Length}.", nameof(value));
        }

        WriteUInt16(body, (ushort)value.Length);
        body.Write(value);
    }

    private static ConnectPacket ReadConnect(ref Reader reader)
    {
        var protocol = reader.ReadString();
        var level = reader.ReadByte();
        if (protocol != "MQTT" || level != ProtocolLevel)
        {
            throw Malformed($"Protocol '{protocol}' level {level} is not MQTT 3.1.1.");
        }

        var flags = reader.ReadByte();
        if ((flags & 0x01) != 0)
        {
            throw Malformed("The reserved CONNECT flag must be 0 (MQTT-3.1.2-3).");
        }

        var hasWill = (flags & 0x04) != 0;
        var willQos = (flags >> 3) & 0x03;
        var willRetain = (flags & 0x20) != 0;
        var hasPassword = (flags & 0x40) != 0;
        var hasUsername = (flags & 0x80) != 0;
        if (willQos == 3)
        {
            throw Malformed("Will QoS 3 is not a QoS (MQTT-3.1.2-14).");
        }

        if (!hasWill && (willQos != 0 || willRetain))
        {
            throw Malformed("Will QoS and retain must be 0 without a will (MQTT-3.1.2-13, -15).");
        }

        if (hasPassword && !hasUsername)
        {
            throw Malformed("A password without a user name (MQTT-3.1.2-22).");
        }

        var keepAlive = reader.ReadUInt16();
        var clientId = reader.ReadString();
        MqttWill? will = null;
        if (hasWill)
        {
            var topic = reader.ReadString();
            if (!MqttTopic.IsValidTopicName(topic))
            {
                throw Malformed($"'{topic}' is not a valid will topic.");
            }

            will = new MqttWill(topic, reader.ReadBinary().ToArray(), (MqttQos)willQos, willRetain);
        }

        return new ConnectPacket(clientId)
        {
            CleanSession = (flags & 0x02) != 0,
            KeepAliveSeconds = keepAlive,
            Will = will,
            Username = hasUsername ? reader.ReadString() : null,
            Password = hasPassword ? reader.ReadBinary().ToArray() : null,
        };
    }

    private static ConnAckPacket ReadConnAck(ref Reader reader)
    {
        var ackFlags = reader.ReadByte();
        if ((ackFlags & 0xFE) != 0)
        {
            throw Malformed("CONNACK flags bits 7-1 are reserved and must be 0.");
        }

        var code = reader.ReadByte();
        if (code > (byte)MqttConnectReturnCode.NotAuthorized)
        {
            throw Malformed($"CONNACK return code {code} is reserved.");
        }

        return new ConnAckPacket((ackFlags & 0x01) != 0, (MqttConnectReturnCode)code);
    }

    private static PublishPacket ReadPublish(ref Reader reader, int flags)
    {
        var qos = (flags >> 1) & 0x03;
        var dup = (flags & 0x08) != 0;
        if (qos == 3)
        {
            throw Malformed("PUBLISH with QoS 3 (MQTT-3.3.1-4).");
        }

        if (qos == 0 && dup)
        {
            throw Malformed("PUBLISH with QoS 0 must not have DUP set (MQTT-3.3.1-2).");
        }

        var topic = reader.ReadString();
        if (!MqttTopic.IsValidTopicName(topic))
        {
            throw Malformed($"'{topic}' is not a valid topic name (MQTT-3.3.2-2).");
        }

        var packetId = qos == 0 ? (ushort)0 : reader.ReadPacketId();
        return new PublishPacket(topic, reader.ReadRest().ToArray())
        {
            Qos = (MqttQos)qos,
            Dup = dup,
            Retain = (flags & 0x01) != 0,
            PacketId = packetId,
        };
    }

    private static SubscribePacket ReadSubscribe(ref Reader reader)
    {
        var packetId = reader.ReadPacketId();
        var filters = new List<MqttTopicFilter>();
        while (reader.Remaining > 0)
        {
            var filter = reader.ReadFilter();
            var options = reader.ReadByte();
            if (options > 2)
            {
                throw Malformed($"Requested QoS byte 0x{options:X2} is invalid (MQTT-3.8.3-4).");
            }

            filters.Add(new MqttTopicFilter(filter, (MqttQos)options));
        }

        if (filters.Count == 0)
        {
            throw Malformed("SUBSCRIBE without filters (MQTT-3.8.3-3).");
        }

        return new SubscribePacket(packetId, filters);
    }

    private static SubAckPacket ReadSubAck(ref Reader reader)
    {
        var packetId = reader.ReadPacketId();
        var codes = new List<MqttSubscribeReturnCode>();
        while (reader.Remaining > 0)
        {
            var code = reader.ReadByte();
            if (code is not (0x00 or 0x01 or 0x02 or 0x80))
            {
                throw Malformed($"SUBACK return code 0x{code:X2} is reserved (MQTT-3.9.3-2).");
            }

            codes.Add((MqttSubscribeReturnCode)code);
        }

        if (codes.Count == 0)
        {
            throw Malformed("SUBACK without return codes.");
        }

        return new SubAckPacket(packetId, codes);
    }

    private static UnsubscribePacket ReadUnsubscribe(ref Reader reader)
    {
        var packetId = reader.ReadPacketId();
        var filters = new List<string>();
        while (reader.Remaining > 0)
        {
            filters.Add(reader.ReadFilter());
        }

        if (filters.Count == 0)
        {
            throw Malformed("UNSUBSCRIBE without filters (MQTT-3.10.3-2).");
        }

        return new UnsubscribePacket(packetId, filters);
    }

    /// <summary>Bounds-checked reads over a packet body: running off the end is malformed input, never an index error.</summary>
    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _span;
        private int _position;

        public Reader(ReadOnlySpan<byte> span)
        {
            _span = span;
            _position = 0;
        }

        public readonly int Remaining => _span.Length - _position;

        public byte ReadByte() => Take(1, "a byte")[0];

        public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2, "a two-byte integer"));

        public ushort ReadPacketId()
        {
            var id = ReadUInt16();
            return id != 0 ? id : throw Malformed("Packet identifier 0 is not allowed (MQTT-2.3.1-1).");
        }

        public ReadOnlySpan<byte> ReadBinary()
        {
            var length = ReadUInt16();
            return Take(length, $"a {length}-byte field");
        }

        public string ReadString()
        {
            var bytes = ReadBinary();
            string value;
            try
            {
                value = StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException ex)
            {
                throw new MqttMalformedPacketException("A string is not well-formed UTF-8 (MQTT-1.5.3-1).", ex);
            }

            return !value.Contains('\0', StringComparison.Ordinal)
                ? value
                : throw Malformed("A string contains U+0000 (MQTT-1.5.3-2).");
        }

        public string ReadFilter()
        {
            var filter = ReadString();
            return MqttTopic.IsValidTopicFilter(filter) ? filter : throw Malformed($"'{filter}' is not a valid topic filter.");
        }

        public ReadOnlySpan<byte> ReadRest() => Take(Remaining, "the payload");

        public readonly void EnsureEnd(MqttPacketType type)
        {
            if (Remaining != 0)
            {
                throw Malformed($"{type} has {Remaining} unexpected bytes at its end.");
            }
        }

        private ReadOnlySpan<byte> Take(int count, string what)
        {
            if (count > Remaining)
            {
                throw Malformed($"Expected {what} but only {Remaining} bytes are left.");
            }

            var slice = _span.Slice(_position, count);
            _position += count;
            return slice;
        }
    }
}
