using System.Net.Security;

namespace IotWs.Mqtt;

/// <summary>How <see cref="MqttClient"/> reaches and talks to its broker.</summary>
public sealed record MqttClientOptions
{
    public string Host { get; init; } = "localhost";
    public int Port { get; init; } = 1883;

    /// <summary>Wraps the TCP stream in TLS (<see cref="System.Net.Security.SslStream"/>), server name = <see cref="Host"/>.</summary>
    public bool UseTls { get; init; }

    /// <summary>Optional certificate check for TLS, e.g. to trust a broker's self-signed certificate.</summary>
    public RemoteCertificateValidationCallback? CertificateValidation { get; init; }

    /// <summary>Empty lets the broker assign one, which MQTT 3.1.1 allows only with a clean session.</summary>
    public string ClientId { get; init; } = "";
    public string? Username { get; init; }
    public string? Password { get; init; }

    /// <summary>Idle time after which a PINGREQ is sent, and the wait for its PINGRESP. Zero turns keep-alive off.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);
    public bool CleanSession { get; init; } = true;

    /// <summary>Published by the broker if this client vanishes without DISCONNECT.</summary>
    public MqttWill? Will { get; init; }

    /// <summary>Reconnect delays grow from this base: random(0, min(max, min * 2^n)).</summary>
    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Outgoing messages waiting for the connection; beyond this the oldest is dropped and counted.</summary>
    public int MaxQueued { get; init; } = 10_000;

    /// <summary>QoS 1 messages sent but not yet acknowledged; further ones wait in the queue.</summary>
    public int MaxInflight { get; init; } = 100;

    /// <summary>Wait for PUBACK before a QoS 1 message is sent again with DUP, and for SUBACK/UNSUBACK.</summary>
    public TimeSpan AckTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Wait for the TCP/TLS connection and the CONNACK.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Larger incoming packets close the connection instead of being buffered.</summary>
    public int MaxIncomingPacketSize { get; init; } = 1024 * 1024;

    internal void Validate()
    {
        static void Require(bool condition, string message)
        {
            if (!condition)
            {
                throw new ArgumentException(message);
            }
        }

        Require(!string.IsNullOrWhiteSpace(Host), "Host is required.");
        Require(Port is > 0 and <= 65535, $"Port {Port} is out of range.");
        Require(ClientId.Length > 0 || CleanSession, "An empty ClientId needs CleanSession (MQTT-3.1.3-7).");
        Require(Password is null || Username is not null, "MQTT 3.1.1 allows a password only with a user name.");
        Require(KeepAlive >= TimeSpan.Zero && KeepAlive.TotalSeconds <= ushort.MaxValue, "KeepAlive must be 0 to 65,535 seconds.");
        Require(ReconnectMin > TimeSpan.Zero && ReconnectMax >= ReconnectMin, "Need 0 < ReconnectMin <= ReconnectMax.");
        Require(MaxQueued > 0 && MaxInflight is > 0 and < ushort.MaxValue, "MaxQueued and MaxInflight must be positive.");
        Require(AckTimeout > TimeSpan.Zero && ConnectTimeout > TimeSpan.Zero, "Timeouts must be positive.");
        Require(MaxIncomingPacketSize > 0, "MaxIncomingPacketSize must be positive.");
        Require(Will is null || (MqttTopic.IsValidTopicName(Will.Topic) && Will.Qos <= MqttQos.AtLeastOnce), "The will needs a valid topic and QoS 0 or 1.");
    }
}
