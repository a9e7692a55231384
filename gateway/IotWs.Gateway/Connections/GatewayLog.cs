namespace IotWs.Gateway.Connections;

/// <summary>Source-generated log messages of the connection layer, with client and device ids as fields.</summary>
internal static partial class GatewayLog
{
    // No template is given a null: it would print "(null)" (issue 12 item 14). Optional parts get a message of their own.

    [LoggerMessage(1, LogLevel.Information, "Client {ClientId} connected from {Remote}")]
    public static partial void Connected(ILogger logger, string clientId, string remote);

    [LoggerMessage(2, LogLevel.Information, "Client {ClientId} disconnected ({CloseCode} {Reason})")]
    public static partial void Disconnected(ILogger logger, string clientId, int closeCode, string reason);

    [LoggerMessage(9, LogLevel.Information, "Client {ClientId} of device {DeviceId} disconnected ({CloseCode} {Reason})")]
    public static partial void DeviceDisconnected(ILogger logger, string clientId, string deviceId, int closeCode, string reason);

    /// <summary>The closing line of a connection, naming its device when it had one.</summary>
    public static void Disconnected(ILogger logger, ClientSession session)
    {
        var code = session.CloseCode ?? IotWs.Protocol.CloseCodes.Normal;
        var reason = session.CloseReason ?? "closed";
        if (session.DeviceId is { } deviceId) DeviceDisconnected(logger, session.ClientId, deviceId, code, reason);
        else Disconnected(logger, session.ClientId, code, reason);
    }

    /// <summary>A peer address for a log line (an in-memory or Unix-socket connection has none).</summary>
    public static string Remote(System.Net.IPAddress? address) => address?.ToString() ?? "an unknown address";

    [LoggerMessage(3, LogLevel.Information, "Client {ClientId} authenticated as {Role} {Principal}")]
    public static partial void Authenticated(ILogger logger, string clientId, string role, string principal);

    [LoggerMessage(4, LogLevel.Warning, "Client {ClientId} from {Remote} failed to authenticate: {Reason}")]
    public static partial void AuthFailed(ILogger logger, string clientId, string remote, string reason);

    [LoggerMessage(5, LogLevel.Information, "Device {DeviceId}: connection {OldClientId} replaced by {ClientId}")]
    public static partial void Replaced(ILogger logger, string deviceId, string oldClientId, string clientId);

    [LoggerMessage(6, LogLevel.Warning, "Connection refused: {Count} connections reached the limit of {Limit}")]
    public static partial void Full(ILogger logger, int count, int limit);

    [LoggerMessage(7, LogLevel.Warning, "Client {ClientId} closed with {CloseCode}: {Reason}")]
    public static partial void ClosedByGateway(ILogger logger, string clientId, int closeCode, string reason);

    [LoggerMessage(8, LogLevel.Error, "Client {ClientId}: handler for {Type} failed")]
    public static partial void HandlerFailed(ILogger logger, Exception e, string clientId, string type);
}
