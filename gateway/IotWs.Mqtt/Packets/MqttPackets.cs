namespace IotWs.Mqtt;

/// <summary>MQTT 3.1.1 control packet types (spec 2.2.1), the high nibble of the fixed header.</summary>
public enum MqttPacketType : byte
{
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
}

/// <summary>Quality of service levels (spec 4.3). The client sends and requests at most QoS 1.</summary>
public enum MqttQos : byte
{
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

/// <summary>CONNACK return codes (spec 3.2.2.3).</summary>
public enum MqttConnectReturnCode : byte
{
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUsernameOrPassword = 4,
    NotAuthorized = 5,
}

/// <summary>SUBACK return codes (spec 3.9.3): the granted QoS, or failure.</summary>
public enum MqttSubscribeReturnCode : byte
{
    GrantedQos0 = 0x00,
    GrantedQos1 = 0x01,
    GrantedQos2 = 0x02,
    Failure = 0x80,
}

/// <summary>A will message the broker publishes when the client goes away without DISCONNECT (spec 3.1.2.5).</summary>
public sealed record MqttWill(string Topic, ReadOnlyMemory<byte> Payload, MqttQos Qos = MqttQos.AtMostOnce, bool Retain = false);

/// <summary>A topic filter with the maximum QoS asked for, as carried by SUBSCRIBE.</summary>
public readonly record struct MqttTopicFilter(string Filter, MqttQos Qos);

/// <summary>Base of all control packets: plain data, no behaviour; see <see cref="MqttPacketCodec"/>.</summary>
public abstract record MqttPacket
{
    /// <summary>The packet type written in the fixed header.</summary>
    public abstract MqttPacketType Type { get; }
}

/// <summary>CONNECT (spec 3.1): the first packet a client sends.</summary>
public sealed record ConnectPacket(string ClientId) : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Connect;
    public string? Username { get; init; }
    public byte[]? Password { get; init; }
    public ushort KeepAliveSeconds { get; init; }
    public bool CleanSession { get; init; } = true;
    public MqttWill? Will { get; init; }
}

/// <summary>CONNACK (spec 3.2): the broker's answer to CONNECT.</summary>
public sealed record ConnAckPacket(bool SessionPresent, MqttConnectReturnCode ReturnCode) : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.ConnAck;
}

/// <summary>PUBLISH (spec 3.3): an application message; <see cref="PacketId"/> is used only for QoS above 0.</summary>
public sealed record PublishPacket(string Topic, ReadOnlyMemory<byte> Payload) : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Publish;
    public MqttQos Qos { get; init; }
    public bool Retain { get; init; }
    public bool Dup { get; init; }
    public ushort PacketId { get; init; }
}

/// <summary>PUBACK (spec 3.4): acknowledges a QoS 1 PUBLISH.</summary>
public sealed record PubAckPacket(ushort PacketId) : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.PubAck;
}

/// <summary>SUBSCRIBE (spec 3.8): one or more topic filters.</summary>
public sealed record SubscribePacket(ushort PacketId, IReadOnlyList<MqttTopicFilter> Filters) : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Subscribe;
}

/// <summary>SUBACK (spec 3.9): one return code per filter, in order.</summary>
public sealed record SubAckPacket(ushort PacketId, IReadOnlyList<MqttSubscribeReturnCode> ReturnCodes) : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.SubAck;
}

/// <summary>UNSUBSCRIBE (spec 3.10).</summary>
public sealed record UnsubscribePacket(ushort PacketId, IReadOnlyList<string> Filters) : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Unsubscribe;
}

/// <summary>UNSUBACK (spec 3.11).</summary>
public sealed record UnsubAckPacket(ushort PacketId) : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.UnsubAck;
}

/// <summary>PINGREQ (spec 3.12).</summary>
public sealed record PingReqPacket : MqttPacket
{
    public static readonly PingReqPacket Instance = new();
    public override MqttPacketType Type => MqttPacketType.PingReq;
}

/// <summary>PINGRESP (spec 3.13).</summary>
public sealed record PingRespPacket : MqttPacket
{
    public static readonly PingRespPacket Instance = new();
    public override MqttPacketType Type => MqttPacketType.PingResp;
}

/// <summary>DISCONNECT (spec 3.14): a clean goodbye, after which the broker discards the will.</summary>
public sealed record DisconnectPacket : MqttPacket
{
    public static readonly DisconnectPacket Instance = new();
    public override MqttPacketType Type => MqttPacketType.Disconnect;
}
