using System.Collections.Concurrent;
using IotWs.Gateway.Rpc;
using IotWs.Protocol;

namespace IotWs.Gateway.Cluster;

/// <summary>
/// iotws-cluster/rpc/{nodeId}/request: "request" asks the node holding the device to send it a request and answer on
/// rpc/{from}/reply; "deliver" tells that node a persistent call was queued for the device (it delivers from the
/// shared database).
/// </summary>
public sealed record RoutedRpcRequest(string Kind, string From, string DeviceId, string? RequestId = null, string? Endpoint = null, string? DataJson = null, long? TimeoutMs = null)
{
    public const string Request = "request";
    public const string Deliver = "deliver";
}

/// <summary>iotws-cluster/rpc/{nodeId}/reply: how a routed request ended on the device's node ("notSent": the device had gone).</summary>
public sealed record RoutedRpcReply(string RequestId, string Outcome, string? ResultJson, string? Error, string? ClientId, long? BootId)
{
    public const string NotSent = "notSent";
}

/// <summary>The rpc/ topics of the cluster bus.</summary>
public static class ClusterRpcTopics
{
    public static string Request(string nodeId) => "rpc/" + nodeId + "/request";
    public static string Reply(string nodeId) => "rpc/" + nodeId + "/reply";
}

/// <summary>
/// The cluster's <see cref="IDeviceRequestChannel"/>: a device connected here gets the request from this process's
/// pending-call map, as on one gateway; a device connected to another node gets it through that node, over the bus,
/// and the answer comes back to this node, which records the call (same statuses, audit and timeouts). A node that
/// dies with requests of ours fails them at once as disconnected, as a device's closing connection would.
/// </summary>
internal sealed partial class RoutedDeviceRequests : IDeviceRequestChannel, IHostedService, IDisposable
{
    // The device's node answers at the timeout itself; this much later, an answer that never came means that node is gone.
    private static readonly TimeSpan RemoteGrace = TimeSpan.FromSeconds(2);

    private readonly LocalDeviceRequests _local;
    private readonly IClusterBus _bus;
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly ILogger<RoutedDeviceRequests> _logger;
    private readonly ConcurrentDictionary<string, Remote> _remote = new(StringComparer.Ordinal);
    private readonly List<IDisposable> _subscriptions = [];
    private IDeviceOwners? _owners;

    public RoutedDeviceRequests(LocalDeviceRequests local, IClusterBus bus, IServiceProvider services, TimeProvider time, ILogger<RoutedDeviceRequests> logger)
    {
        _local = local;
        _bus = bus;
        _services = services;
        _time = time;
        _logger = logger;
    }

    public int PendingCount => _local.PendingCount + _remote.Count;

    // Resolved late: the owners map is the bus's, registered with it.
    private IDeviceOwners? Owners => _owners ??= _services.GetService<IDeviceOwners>();

    public bool IsConnected(string deviceId) => _local.IsConnected(deviceId) || RemoteNodeOf(deviceId) is not null;

    public DeviceRequest Send(string deviceId, string requestId, string endpoint, string dataJson, TimeSpan timeout)
    {
        if (_local.IsConnected(deviceId)) return _local.Send(deviceId, requestId, endpoint, dataJson, timeout);
        if (RemoteNodeOf(deviceId) is not { } node) return DeviceRequest.NotSent;
        var remote = new Remote(requestId, deviceId, node);
        if (!_remote.TryAdd(requestId, remote)) throw new InvalidOperationException($"Request {requestId} is already pending.");
        remote.Timer = _time.CreateTimer(_ => Finish(requestId, DeviceReplyKind.Disconnected, null, ErrorCodes.DeviceDisconnected, "", null), null, timeout + RemoteGrace, Timeout.InfiniteTimeSpan);
        var message = new RoutedRpcRequest(RoutedRpcRequest.Request, _bus.NodeId, deviceId, requestId, endpoint, dataJson, (long)timeout.TotalMilliseconds);
        _ = _bus.PublishAsync(ClusterRpcTopics.Request(node), ClusterTopics.Encode(message));
        RequestRouted(_logger, requestId, deviceId, node);
        return new DeviceRequest(true, remote.Completion.Task);
    }

    /// <summary>A persistent call was queued here for a device connected to another node: that node delivers it.</summary>
    public void QueuedFor(string deviceId)
    {
        if (_local.IsConnected(deviceId) || RemoteNodeOf(deviceId) is not { } node) return;
        _ = _bus.PublishAsync(ClusterRpcTopics.Request(node), ClusterTopics.Encode(new RoutedRpcRequest(RoutedRpcRequest.Deliver, _bus.NodeId, deviceId)));
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_bus.IsEnabled) return Task.CompletedTask;
        _subscriptions.Add(_bus.Subscribe(ClusterRpcTopics.Request(_bus.NodeId), OnRequest));
        _subscriptions.Add(_bus.Subscribe(ClusterRpcTopics.Reply(_bus.NodeId), OnReply));
        _bus.NodeLeft += OnNodeLeft;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _bus.NodeLeft -= OnNodeLeft;
        foreach (var s in _subscriptions) s.Dispose();
        _subscriptions.Clear();
        foreach (var remote in _remote.Values) Finish(remote.RequestId, DeviceReplyKind.Disconnected, null, ErrorCodes.DeviceDisconnected, "", null);
    }

    private string? RemoteNodeOf(string deviceId) =>
        _bus.IsEnabled && Owners?.NodeOf(deviceId) is { } node && node != _bus.NodeId ? node : null;

    /// <summary>Another node asks: send this request to a device connected here and tell it the outcome; or deliver queued calls.</summary>
    private void OnRequest(string subtopic, ReadOnlyMemory<byte> payload)
    {
        if (ClusterTopics.Decode<RoutedRpcRequest>(payload) is not { } message) return;
        if (message.Kind == RoutedRpcRequest.Deliver)
        {
            _services.GetRequiredService<DeviceCalls>().OfferQueued(message.DeviceId);
            return;
        }
        if (message is not { RequestId: { } requestId, Endpoint: { } endpoint, DataJson: { } data, TimeoutMs: { } timeoutMs }) return;
        var request = _local.Send(message.DeviceId, requestId, endpoint, data, TimeSpan.FromMilliseconds(timeoutMs));
        if (!request.Sent)
        {
            Answer(message.From, new RoutedRpcReply(requestId, RoutedRpcReply.NotSent, null, DeviceRequest.DeviceOffline, null, null));
            return;
        }
        // Off the bus's receive loop: the answer may take the whole timeout.
        _ = RelayAsync(message.From, requestId, endpoint, request.Reply);
    }

    private async Task RelayAsync(string from, string requestId, string endpoint, Task<DeviceReply> pending)
    {
        try
        {
            var reply = await pending;
            // A reboot acknowledged here: queued calls on this node wait for the device's next connection.
            if (reply.Kind == DeviceReplyKind.Succeeded && endpoint == Endpoints.Reboot) _services.GetRequiredService<DeviceCalls>().MarkRebootAcknowledged(reply.ClientId);
            Answer(from, new RoutedRpcReply(requestId, reply.Kind.ToString(), reply.ResultJson, reply.Error, reply.ClientId, reply.BootId));
        }
        catch (Exception e)
        {
            RelayFailed(_logger, e, requestId, from);
        }
    }

    private void Answer(string node, RoutedRpcReply reply) => _ = _bus.PublishAsync(ClusterRpcTopics.Reply(node), ClusterTopics.Encode(reply));

    private void OnReply(string subtopic, ReadOnlyMemory<byte> payload)
    {
        if (ClusterTopics.Decode<RoutedRpcReply>(payload) is not { } reply) return;
        if (reply.Outcome == RoutedRpcReply.NotSent)
        {
            Finish(reply.RequestId, DeviceReplyKind.Disconnected, null, reply.Error ?? DeviceRequest.DeviceOffline, "", null);
            return;
        }
        if (!Enum.TryParse<DeviceReplyKind>(reply.Outcome, out var kind)) return;
        Finish(reply.RequestId, kind, reply.ResultJson, reply.Error, reply.ClientId ?? "", reply.BootId);
    }

    private void OnNodeLeft(ClusterNode node)
    {
        foreach (var remote in _remote.Values)
        {
            if (remote.NodeId == node.NodeId) Finish(remote.RequestId, DeviceReplyKind.Disconnected, null, ErrorCodes.DeviceDisconnected, "", null);
        }
    }

    private void Finish(string requestId, DeviceReplyKind kind, string? resultJson, string? error, string clientId, long? bootId)
    {
        // Only the first of answer, grace timer and node loss decides.
        if (!_remote.TryRemove(requestId, out var remote)) return;
        remote.Timer?.Dispose();
        remote.Completion.TrySetResult(new DeviceReply(kind, resultJson, error, clientId, bootId));
    }

    private sealed class Remote(string requestId, string deviceId, string nodeId)
    {
        public string RequestId { get; } = requestId;
        public string DeviceId { get; } = deviceId;
        public string NodeId { get; } = nodeId;
        public ITimer? Timer { get; set; }
        public TaskCompletionSource<DeviceReply> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(1411, LogLevel.Debug, "Request {RequestId} for device {DeviceId} routed to node {NodeId}")]
    private static partial void RequestRouted(ILogger logger, string requestId, string deviceId, string nodeId);

    [LoggerMessage(1412, LogLevel.Error, "Relaying the answer to request {RequestId} back to node {NodeId} failed")]
    private static partial void RelayFailed(ILogger logger, Exception e, string requestId, string nodeId);
}
