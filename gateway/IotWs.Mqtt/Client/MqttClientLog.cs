using Microsoft.Extensions.Logging;

namespace IotWs.Mqtt;

internal static partial class MqttClientLog
{
    [LoggerMessage(1, LogLevel.Information, "Connected to MQTT broker {Host}:{Port} (session present: {SessionPresent}, reconnect: {IsReconnect})")]
    public static partial void Connected(ILogger logger, string host, int port, bool sessionPresent, bool isReconnect);

    [LoggerMessage(2, LogLevel.Warning, "Not connected to MQTT broker {Host}:{Port} ({Reason}); retrying in {Delay}")]
    public static partial void ConnectFailed(ILogger logger, string host, int port, string reason, TimeSpan delay);

    [LoggerMessage(3, LogLevel.Error, "MQTT broker {Host}:{Port} refused the connection with {ReturnCode}; not retrying")]
    public static partial void ConnectRefused(ILogger logger, string host, int port, MqttConnectReturnCode returnCode);

    [LoggerMessage(4, LogLevel.Warning, "Lost the MQTT connection to {Host}:{Port}: {Reason}")]
    public static partial void ConnectionLost(ILogger logger, string host, int port, string reason);

    [LoggerMessage(5, LogLevel.Error, "Malformed packet from MQTT broker {Host}:{Port}; closing the connection: {Reason}")]
    public static partial void MalformedPacket(ILogger logger, string host, int port, string reason);

    [LoggerMessage(6, LogLevel.Warning, "MQTT queue full ({MaxQueued}): dropped the oldest message, {Dropped} dropped so far")]
    public static partial void Dropped(ILogger logger, int maxQueued, long dropped);

    [LoggerMessage(7, LogLevel.Error, "An MQTT {Event} handler failed")]
    public static partial void HandlerFailed(ILogger logger, string @event, Exception exception);

    [LoggerMessage(8, LogLevel.Warning, "MQTT subscriptions were not confirmed after reconnecting: {Reason}")]
    public static partial void ResubscribeFailed(ILogger logger, string reason);

    [LoggerMessage(9, LogLevel.Warning, "Disconnecting from MQTT with {Queued} queued and {Inflight} unacknowledged messages")]
    public static partial void DisconnectUndrained(ILogger logger, int queued, int inflight);
}
