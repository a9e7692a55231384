namespace IotWs.Gateway.Rpc;

/// <summary>Source-generated log messages of gateway-to-device calls, with device, client and call ids as fields.</summary>
internal static partial class RpcLog
{
    [LoggerMessage(701, LogLevel.Debug, "Device {DeviceId}: request {RequestId} ({Endpoint}) sent on {ClientId}")]
    public static partial void RequestSent(ILogger logger, string deviceId, string clientId, string requestId, string endpoint);

    // No template is given a null: it would print "(null)".
    [LoggerMessage(702, LogLevel.Debug, "Client {ClientId} ({Principal}): response {RequestId} ignored: {Reason}")]
    public static partial void ResponseIgnored(ILogger logger, string clientId, string principal, string requestId, string reason);

    [LoggerMessage(703, LogLevel.Information, "Call {CallId}: {Caller} ({Role}) calls {Endpoint} on device {DeviceId} (persistent {Persistent}): {Status}")]
    public static partial void CallCreated(ILogger logger, string callId, string caller, string role, string endpoint, string deviceId, bool persistent, string status);

    [LoggerMessage(704, LogLevel.Information, "Call {CallId} on device {DeviceId}: {Status}")]
    public static partial void CallChanged(ILogger logger, string callId, string deviceId, string status);

    [LoggerMessage(711, LogLevel.Information, "Call {CallId} on device {DeviceId}: {Status} ({Error})")]
    public static partial void CallFailed(ILogger logger, string callId, string deviceId, string status, string error);

    [LoggerMessage(705, LogLevel.Error, "Device {DeviceId}: delivering queued calls failed")]
    public static partial void DeliveryFailed(ILogger logger, Exception e, string deviceId);

    [LoggerMessage(706, LogLevel.Error, "Call {CallId} on device {DeviceId}: recording the device's answer failed")]
    public static partial void FollowFailed(ILogger logger, Exception e, string callId, string deviceId);

    [LoggerMessage(707, LogLevel.Error, "RPC sweep failed")]
    public static partial void SweepFailed(ILogger logger, Exception e);

    [LoggerMessage(708, LogLevel.Information, "RPC audit log: deleted {Count} calls finished before {Cutoff}")]
    public static partial void RetentionSwept(ILogger logger, int count, DateTimeOffset cutoff);

    [LoggerMessage(709, LogLevel.Warning, "Call {CallId} on device {DeviceId} was in flight when the gateway stopped: marked failed")]
    public static partial void Interrupted(ILogger logger, string callId, string deviceId);

    [LoggerMessage(710, LogLevel.Error, "Client {ClientId}: rpc_call {Method} failed")]
    public static partial void MethodFailed(ILogger logger, Exception e, string clientId, string method);
}
