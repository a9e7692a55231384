using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using MQTTnet.Formatter;

namespace IotWs.Mqtt;

/// <summary>Where an <see cref="MqttLink"/> connects, as whom, and how hard it holds on.</summary>
public sealed record MqttLinkOptions
{
    public required string Host { get; init; }
    public int Port { get; init; } = 1883;
    public required string ClientId { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }

    /// <summary>TLS to the broker; the certificate must be trusted by the system or by <see cref="TrustedCertificates"/>.</summary>
    public bool UseTls { get; init; }

    /// <summary>A private CA (or a self-signed broker certificate) trusted in addition to the system's roots.</summary>
    public X509Certificate2Collection? TrustedCertificates { get; init; }

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Null: MQTT 5, and 3.1.1 when the broker answers that it does not speak 5.</summary>
    public MqttProtocolVersion? ProtocolVersion { get; init; }

    /// <summary>Published by the broker when this client vanishes without a DISCONNECT.</summary>
    public MqttApplicationMessage? Will { get; init; }

    /// <summary>Messages held while the broker is away; when full the oldest is dropped (and counted).</summary>
    public int QueueCapacity { get; init; } = 10_000;

    /// <summary>Messages sent at once while connected (each QoS 1 publish waits for its PUBACK).</summary>
    public int MaxInFlight { get; init; } = 32;

    /// <summary>Topic filters (QoS 1) subscribed after every connect.</summary>
    public IReadOnlyList<string> Subscriptions { get; init; } = [];

    /// <summary>MQTT 5 no-local on <see cref="Subscriptions"/>: the broker does not send this client its own messages (ignored on 3.1.1).</summary>
    public bool NoLocal { get; init; }
}

/// <summary>What an <see cref="MqttLink"/> is doing, for /api/status.</summary>
public sealed record MqttLinkStatus(
    bool IsConnected,
    string? ProtocolVersion,
    int Queued,
    long Dropped,
    long Published,
    long Reconnects,
    string? LastError);
