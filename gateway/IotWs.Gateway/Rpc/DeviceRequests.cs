using System.Collections.Concurrent;
using System.Text.Json;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Rpc;

/// <summary>How a gateway → device request ended.</summary>
public enum DeviceReplyKind
{
    /// <summary>The device answered success:true.</summary>
    Succeeded,
    /// <summary>The device answered success:false.</summary>
    Failed,
    Timeout,
    /// <summary>The device's connection closed before it answered.</summary>
    Disconnected,
}

/// <summary>The device's answer (or why there is none); ClientId and BootId are of the connection the request went to.</summary>
public sealed record DeviceReply(DeviceReplyKind Kind, string? ResultJson, string? Error, string ClientId, long? BootId);

/// <summary>A request handed to a device's connection: Sent is false when the device had no open connection.</summary>
public sealed record DeviceRequest(bool Sent, Task<DeviceReply> Reply)
{
    public const string DeviceOffline = "device_offline";

    public static readonly DeviceRequest NotSent = new(false, Task.FromResult(new DeviceReply(DeviceReplyKind.Disconnected, null, DeviceOffline, "", null)));
}

/// <summary>
/// Sends gateway → device requests and correlates the device's responses. All pending state is behind this
/// interface: a single gateway keeps a map of its own connections (<see cref="LocalDeviceRequests"/>); a cluster
/// node routes a request over the bus to whichever node holds the device's connection (Cluster.RoutedDeviceRequests).
/// </summary>
public interface IDeviceRequestChannel
{
    bool IsConnected(string deviceId);

    /// <summary>Sends {"type":"request",requestId,endpoint,data}; the reply task always completes, at the latest after the timeout.</summary>
    DeviceRequest Send(string deviceId, string requestId, string endpoint, string dataJson, TimeSpan timeout);

    /// <summary>Requests awaiting an answer (for /api/status and leak checks).</summary>
    int PendingCount { get; }

    /// <summary>A persistent call was queued for a device this process does not hold: tell whoever holds it (nothing on one gateway).</summary>
    void QueuedFor(string deviceId)
    {
    }
}

/// <summary>
/// This gateway's pending-call map: requestId → completion with a per-call timer. A response completes its entry
/// only when it comes from the connection the request went to; a device that disconnects fails its entries at once.
/// </summary>
internal sealed class LocalDeviceRequests : IDeviceRequestChannel, IDisposable
{
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly ConnectionRegistry _registry;
    private readonly GatewayEvents _events;
    private readonly TimeProvider _time;
    private readonly ILogger<LocalDeviceRequests> _logger;

    public LocalDeviceRequests(ConnectionRegistry registry, GatewayEvents events, TimeProvider time, ILogger<LocalDeviceRequests> logger)
    {
        _registry = registry;
        _events = events;
        _time = time;
        _logger = logger;
        // For the whole life of the process, shutdown included: a closing connection must fail its calls at once.
        events.ClientDisconnected += OnDisconnected;
    }

    public int PendingCount => _pending.Count;

    public bool IsConnected(string deviceId) => _registry.FindDevice(deviceId) is not null;

    public DeviceRequest Send(string deviceId, string requestId, string endpoint, string dataJson, TimeSpan timeout)
    {
        var session = _registry.FindDevice(deviceId);
        if (session is null) return DeviceRequest.NotSent;
        var pending = new Pending(requestId, session.ClientId, deviceId, session.BootId);
        if (!_pending.TryAdd(requestId, pending)) throw new InvalidOperationException($"Request {requestId} is already pending.");
        // Registered before the frame is queued: a disconnect after this point finds the entry and fails it.
        pending.Timer = _time.CreateTimer(_ => Finish(pending, DeviceReplyKind.Timeout, null, ErrorCodes.Timeout), null, timeout, Timeout.InfiniteTimeSpan);
        var queued = session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.Request);
            w.WriteString(Fields.RequestId, requestId);
            w.WriteString(Fields.Endpoint, endpoint);
            w.WritePropertyName(Fields.Data);
            w.WriteRawValue(dataJson, skipInputValidation: true);
            w.WriteEndObject();
        });
        if (!queued)
        {
            // The connection was already closing: nothing went out.
            Forget(pending);
            return DeviceRequest.NotSent;
        }
        RpcLog.RequestSent(_logger, deviceId, session.ClientId, requestId, endpoint);
        return new DeviceRequest(true, pending.Completion.Task);
    }

    /// <summary>A "response" message: completes the pending request it names if it came from the right connection.</summary>
    public void OnResponse(ClientSession session, JsonElement message)
    {
        var requestId = message.TryGetProperty(Fields.RequestId, out var rid) && rid.ValueKind == JsonValueKind.String ? rid.GetString() : null;
        if (requestId is null)
        {
            RpcLog.ResponseIgnored(_logger, session.ClientId, session.Principal ?? "not authenticated", "without a requestId", "no requestId");
            return;
        }
        if (!_pending.TryGetValue(requestId, out var pending))
        {
            RpcLog.ResponseIgnored(_logger, session.ClientId, session.Principal ?? "not authenticated", requestId, "unknown or already finished requestId");
            return;
        }
        if (pending.ClientId != session.ClientId)
        {
            RpcLog.ResponseIgnored(_logger, session.ClientId, session.Principal ?? "not authenticated", requestId, $"the request went to device {pending.DeviceId} on {pending.ClientId}");
            return;
        }
        // The seed sends "success"; a reply without it counts as success unless it carries an error.
        var hasError = message.TryGetProperty(Fields.Error, out var error) && error.ValueKind != JsonValueKind.Null;
        var success = message.TryGetProperty(Fields.Success, out var s) ? s.ValueKind == JsonValueKind.True : !hasError;
        if (success)
        {
            var data = message.TryGetProperty(Fields.Data, out var d) ? Text(d) : "null";
            Finish(pending, DeviceReplyKind.Succeeded, data, null);
        }
        else
        {
            var text = !hasError ? "the device reported a failure without an error"
                : error.ValueKind == JsonValueKind.String ? error.GetString()! : Text(error);
            Finish(pending, DeviceReplyKind.Failed, null, text.Length > 1000 ? text[..1000] : text);
        }
    }

    /// <summary>Fails every request still waiting on this connection: its answer can no longer come.</summary>
    public void OnDisconnected(ClientSession session)
    {
        foreach (var pending in _pending.Values)
        {
            if (pending.ClientId == session.ClientId) Finish(pending, DeviceReplyKind.Disconnected, null, ErrorCodes.DeviceDisconnected);
        }
    }

    public void Dispose()
    {
        _events.ClientDisconnected -= OnDisconnected;
        foreach (var pending in _pending.Values) Finish(pending, DeviceReplyKind.Disconnected, null, ErrorCodes.DeviceDisconnected);
    }

    private void Finish(Pending pending, DeviceReplyKind kind, string? resultJson, string? error)
    {
        // Only the first of answer, timeout and disconnect removes the entry and decides the outcome.
        if (!_pending.TryRemove(new KeyValuePair<string, Pending>(pending.RequestId, pending))) return;
        pending.Timer?.Dispose();
        pending.Completion.TrySetResult(new DeviceReply(kind, resultJson, error, pending.ClientId, pending.BootId));
    }

    private void Forget(Pending pending)
    {
        _pending.TryRemove(new KeyValuePair<string, Pending>(pending.RequestId, pending));
        pending.Timer?.Dispose();
    }

    private static string Text(JsonElement element) => System.Text.Encoding.UTF8.GetString(WireJson.Write(w => WireJson.WriteElement(w, element)));

    private sealed class Pending(string requestId, string clientId, string deviceId, long? bootId)
    {
        public string RequestId { get; } = requestId;
        public string ClientId { get; } = clientId;
        public string DeviceId { get; } = deviceId;
        public long? BootId { get; } = bootId;
        public ITimer? Timer { get; set; }
        public TaskCompletionSource<DeviceReply> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>"response" from a device: its answer to a request the gateway sent (client → gateway requests are answered by RequestRouter).</summary>
internal sealed class DeviceResponseHandler(LocalDeviceRequests requests) : IMessageHandler
{
    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.Response];

    public ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        // Only devices are sent requests; anyone else's "response" answers nothing.
        if (!session.IsDevice) throw new MessageException(ErrorCodes.Forbidden, $"Role '{session.Role}' is sent no requests: only a device answers with 'response'.");
        requests.OnResponse(session, message);
        return ValueTask.CompletedTask;
    }
}
