using Microsoft.Extensions.Logging;

namespace IotWs.Mqtt;

internal static partial class MqttLinkLog
{
    [LoggerMessage(1, LogLevel.Information, "Connected to MQTT broker {Host}:{Port} with MQTT {Version}")]
    public static partial void Connected(ILogger logger, string host, int port, string version);

    [LoggerMessage(2, LogLevel.Warning, "Not connected to MQTT broker {Host}:{Port} ({Reason}); retrying in {Delay}")]
    public static partial void ConnectFailed(ILogger logger, string host, int port, string reason, TimeSpan delay);

    [LoggerMessage(3, LogLevel.Information, "MQTT broker {Host}:{Port} does not speak MQTT 5; using 3.1.1")]
    public static partial void FallingBack(ILogger logger, string host, int port);

    [LoggerMessage(4, LogLevel.Warning, "Lost the MQTT connection to {Host}:{Port}: {Reason}")]
    public static partial void ConnectionLost(ILogger logger, string host, int port, string reason);

    [LoggerMessage(5, LogLevel.Warning, "The MQTT broker refused a publish on {Topic}: {Reason}")]
    public static partial void PublishRefused(ILogger logger, string topic, string reason);

    [LoggerMessage(6, LogLevel.Warning, "MQTT queue full ({Capacity}): dropped the oldest message, {Dropped} dropped so far")]
    public static partial void Dropped(ILogger logger, int capacity, long dropped);

    [LoggerMessage(7, LogLevel.Error, "An MQTT {Event} handler failed")]
    public static partial void HandlerFailed(ILogger logger, string @event, Exception exception);

    [LoggerMessage(8, LogLevel.Warning, "The MQTT broker refused the subscription {Filter}: {Reason}")]
    public static partial void SubscribeRefused(ILogger logger, string filter, string reason);

    [LoggerMessage(9, LogLevel.Warning, "Disconnecting from MQTT with {Queued} messages not yet acknowledged")]
    public static partial void DisconnectUndrained(ILogger logger, int queued);
}
