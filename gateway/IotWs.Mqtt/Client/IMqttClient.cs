namespace IotWs.Mqtt;

/// <summary>An application message as published or received.</summary>
public sealed record MqttApplicationMessage(string Topic, ReadOnlyMemory<byte> Payload, MqttQos Qos, bool Retain);

/// <summary>Raised after every successful CONNACK, the first one included.</summary>
public sealed class MqttConnectedEventArgs(bool sessionPresent, bool isReconnect) : EventArgs
{
    public bool SessionPresent { get; } = sessionPresent;

    /// <summary>True when this connection replaces a lost one: the broker may have forgotten retained state.</summary>
    public bool IsReconnect { get; } = isReconnect;
}

/// <summary>A snapshot of the client for status pages and health checks.</summary>
public sealed record MqttClientStatus(
    bool IsConnected,
    int QueuedCount,
    int InflightCount,
    long DroppedCount,
    int ReconnectCount,
    string? LastError);

/// <summary>
/// The MQTT client the gateway depends on; our <see cref="MqttClient"/> implements it, and MQTTnet could
/// through a thin adapter where it is available.
/// </summary>
public interface IMqttClient : IAsyncDisposable
{
    bool IsConnected { get; }

    MqttClientStatus Status { get; }

    /// <summary>Each incoming PUBLISH; for QoS 1 the PUBACK is sent after the handlers return.</summary>
    event Func<MqttApplicationMessage, Task>? MessageReceived;

    /// <summary>Each (re)connection, after subscriptions are restored: the place to republish retained state.</summary>
    event Func<MqttConnectedEventArgs, Task>? Connected;

    /// <summary>
    /// Starts the client and waits for its first connection. The client keeps reconnecting in the background,
    /// even if this wait is cancelled, until <see cref="DisconnectAsync"/>.
    /// </summary>
    Task ConnectAsync(CancellationToken cancellationToken = default);

    /// <summary>Queues a message; it is sent now if connected, else after reconnecting (QoS 1 until acknowledged).</summary>
    Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, MqttQos qos = MqttQos.AtMostOnce, bool retain = false, CancellationToken cancellationToken = default);

    /// <summary>Subscribes now if connected (waiting for SUBACK) and again after every reconnect.</summary>
    Task SubscribeAsync(string topicFilter, MqttQos qos = MqttQos.AtMostOnce, CancellationToken cancellationToken = default);

    Task UnsubscribeAsync(string topicFilter, CancellationToken cancellationToken = default);

    /// <summary>Flushes what is queued (bounded by the token and the ack timeout), sends DISCONNECT and stops.</summary>
    Task DisconnectAsync(CancellationToken cancellationToken = default);
}
