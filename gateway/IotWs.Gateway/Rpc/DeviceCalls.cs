using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Cluster;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Storage;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Rpc;

/// <summary>
/// The gateway's calls to devices: makes each call, queues persistent ones until their device is back,
/// follows every call to its outcome (including reboot confirmation by bootId) and records each step in the audit log.
/// </summary>
internal sealed class DeviceCalls : IAsyncDisposable, IDisposable
{
    /// <summary>Error of a non-persistent call to a device that has no open connection.</summary>
    public const string DeviceOffline = DeviceRequest.DeviceOffline;
    /// <summary>Error of a call that was in flight when the gateway process stopped: its answer was lost with it.</summary>
    public const string GatewayRestarted = "gateway_restarted";

    // Marks a connection that acknowledged a reboot: it is about to go away, so queued calls wait for the next one.
    private const string RebootAcknowledgedItem = "rpc.rebootAcknowledged";
    // POST waits a call's timeout plus this before answering 202: the timeout itself settles the call.
    private static readonly TimeSpan WaitGrace = TimeSpan.FromSeconds(2);
    // How often a waiting POST looks at a call another node is delivering.
    private static readonly TimeSpan ClusterPollInterval = TimeSpan.FromMilliseconds(100);
    // A find-or-create takes milliseconds; the lease outlives a stalled holder only this long.
    private static readonly TimeSpan IdempotencyClaimLength = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan IdempotencyClaimWait = TimeSpan.FromSeconds(5);

    private readonly IRpcCallStore _store;
    private readonly IDeviceRequestChannel _channel;
    private readonly IdentityStore _identities;
    private readonly ConnectionRegistry _registry;
    private readonly RpcOptions _options;
    private readonly int _maxPayloadSize;
    private readonly TimeProvider _time;
    private readonly ILogger<DeviceCalls> _logger;
    private readonly ILeaseStore _leaseStore;
    // The node that sends this process's calls (null on a single gateway): recorded with each call it sends.
    private readonly string? _node;
    private readonly Lock _createGate = new();
    private readonly Dictionary<string, bool> _delivering = new(StringComparer.Ordinal);
    private readonly HashSet<Task> _background = [];

    public DeviceCalls(
        IRpcCallStore store,
        IDeviceRequestChannel channel,
        IdentityStore identities,
        ConnectionRegistry registry,
        IOptions<RpcOptions> options,
        IOptions<GatewayOptions> gatewayOptions,
        TimeProvider time,
        IClusterLeases leases,
        ILeaseStore leaseStore,
        ILogger<DeviceCalls> logger)
    {
        _leaseStore = leaseStore;
        _store = store;
        _channel = channel;
        _identities = identities;
        _registry = registry;
        _options = options.Value;
        _maxPayloadSize = gatewayOptions.Value.MaxPayloadSize;
        _time = time;
        _logger = logger;
        _node = leases.NodeId;
        // Before any connection exists: requests in flight when the previous process stopped can never be answered now.
        RecoverInterrupted();
    }

    /// <summary>Raised after every status change of a call, with the call as it now is.</summary>
    public event Action<RpcCall>? CallChanged;

    public RpcCall? Get(string id) => Load(id);

    /// <summary>The audit log, newest first.</summary>
    public IReadOnlyList<RpcCall> List(string? deviceId, int limit) => _store.List(deviceId, limit).Select(RpcCall.FromRow).ToList();

    public int QueuedCount => _store.CountQueued(null);

    public DeviceCallRequest Parse(string deviceId, JsonElement body) => DeviceCallRequest.Parse(deviceId, body, _options, _maxPayloadSize);

    /// <summary>Throws not_found for a device that was never provisioned or is revoked (it can never answer).</summary>
    public void EnsureDeviceExists(string deviceId)
    {
        var device = _identities.FindDevice(deviceId);
        if (device is null) throw new RpcException(RpcException.NotFound, $"No device '{deviceId}'.");
        if (device.Revoked) throw new RpcException(RpcException.NotFound, $"Device '{deviceId}' is revoked.");
    }

    /// <summary>
    /// Makes a call (or finds the one made earlier with the same idempotencyKey) and returns it once it is settled —
    /// finished, or a reboot the device acknowledged — or, for a persistent call, as soon as it is queued for a device
    /// that is away or has not finished within its timeout.
    /// </summary>
    public async Task<RpcCall> CallAsync(DeviceCallRequest request, RpcCaller caller, CancellationToken ct)
    {
        EnsureDeviceExists(request.DeviceId);
        RpcCall call;
        DeviceRequest? direct = null;
        var created = false;
        // One gate for find-or-create: two requests with the same idempotencyKey must not both create a call
        // (in a cluster also across nodes: a short lease on the key in the shared database).
        lock (_createGate)
        {
            using var claim = ClaimIdempotencyKey(request);
            var now = _time.GetUtcNow();
            var existing = request.IdempotencyKey is { } key ? (_store.FindByIdempotencyKey(request.DeviceId, key, now) is { } found ? RpcCall.FromRow(found) : null) : null;
            if (existing is not null)
            {
                if (!IsSameCall(existing, request))
                    throw new RpcException(RpcException.IdempotencyConflict, $"idempotencyKey '{request.IdempotencyKey}' was already used for call {existing.Id} with a different endpoint, data or persistence.");
                call = existing;
            }
            else
            {
                var id = "rpc_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
                if (request.Persistent)
                {
                    if (_store.CountQueued(request.DeviceId) >= _options.MaxQueuedPerDevice)
                        throw new RpcException(RpcException.QueueFull, $"Device '{request.DeviceId}' already has {_options.MaxQueuedPerDevice} queued calls.");
                    call = NewCall(id, request, caller, now, RpcStatuses.Queued);
                }
                else
                {
                    // The call id is the requestId on the wire, so a device's log matches the audit log.
                    direct = _channel.Send(request.DeviceId, id, request.Endpoint, request.DataJson, request.Timeout);
                    call = direct.Sent
                        ? NewCall(id, request, caller, now, RpcStatuses.Sent)
                        : NewCall(id, request, caller, now, RpcStatuses.Failed, DeviceOffline);
                }
                _store.Insert(call.ToRow());
                created = true;
            }
        }

        if (created)
        {
            RpcLog.CallCreated(_logger, call.Id, call.Caller, call.Role, call.Endpoint, call.DeviceId, call.Persistent, call.Status);
            CallChanged?.Invoke(call);
        }
        if (direct is { Sent: true } sent)
        {
            var sentAt = call.SentAt ?? call.CreatedAt;
            RunInBackground(() => FollowAsync(call, sent, sentAt));
        }
        if (created && request.Persistent)
        {
            Kick(request.DeviceId);
            // In a cluster the device may be connected to another node: that node delivers from the shared database.
            if (!CanDeliver(request.DeviceId)) _channel.QueuedFor(request.DeviceId);
        }
        return await WaitSettledAsync(call, ct);
    }

    /// <summary>
    /// Cluster: holds the lease "rpc-idempotency:{device}:{key}" while this node finds or creates the call, so a retry
    /// that reached another node at the same moment finds this call instead of making a second one. Null on a single
    /// gateway (the process's gate is enough) and for calls without a key. A node that dies holding it frees it at expiry.
    /// </summary>
    private IDisposable? ClaimIdempotencyKey(DeviceCallRequest request)
    {
        if (_node is null || request.IdempotencyKey is not { } key) return null;
        var name = $"rpc-idempotency:{request.DeviceId}:{key}";
        var giveUp = _time.GetUtcNow() + IdempotencyClaimWait;
        while (true)
        {
            var now = _time.GetUtcNow();
            if (_leaseStore.TryAcquire(name, _node, now, now + IdempotencyClaimLength)) return new Claim(_leaseStore, name, _node);
            // Held elsewhere only for one find-or-create; past the wait, go on as a single node would.
            if (now >= giveUp) return null;
            Thread.Sleep(20);
        }
    }

    private sealed class Claim(ILeaseStore store, string name, string holder) : IDisposable
    {
        public void Dispose() => store.Release(name, holder);
    }

    /// <summary>A connection authenticated: a device that came back confirms its reboots and receives its queued calls.</summary>
    internal void OnClientAuthenticated(ClientSession session)
    {
        if (session.DeviceId is not { } deviceId) return;
        RunInBackground(() =>
        {
            try
            {
                ConfirmReboots(deviceId, session.ClientId, session.BootId);
            }
            catch (Exception e)
            {
                RpcLog.DeliveryFailed(_logger, e, deviceId);
            }
            Kick(deviceId);
            return Task.CompletedTask;
        });
    }

    /// <summary>Another node queued a call for a device connected here: deliver it (and whatever else waits) now.</summary>
    internal void OfferQueued(string deviceId)
    {
        if (CanDeliver(deviceId)) Kick(deviceId);
    }

    /// <summary>A reboot routed here from another node was acknowledged on this connection: queued calls wait for the next one.</summary>
    internal void MarkRebootAcknowledged(string clientId)
    {
        if (_registry.Find(clientId) is { } acking) acking.Items[RebootAcknowledgedItem] = true;
    }

    /// <summary>Settles queued calls past their TTL and reboots past their confirmation window; re-offers queued calls to connected devices.</summary>
    internal void Sweep()
    {
        var now = _time.GetUtcNow();
        foreach (var id in _store.IdsInStatus(RpcStatuses.Queued, due: RpcDeadline.Expiry, now: now))
        {
            Change(id, RpcStatuses.Queued, RpcStatuses.Expired, now, new RpcCallChange(Completes: true));
        }
        foreach (var id in _store.IdsInStatus(RpcStatuses.Rebooting, due: RpcDeadline.RebootConfirmation, now: now))
        {
            Change(id, RpcStatuses.Rebooting, RpcStatuses.Unconfirmed, now, new RpcCallChange(Completes: true));
        }
        // A safety net: delivery is normally started by the device's authentication or by a new call.
        foreach (var deviceId in _store.DevicesWithQueuedCalls())
        {
            if (CanDeliver(deviceId)) Kick(deviceId);
        }
    }

    internal int DeleteExpiredAuditEntries()
    {
        var cutoff = _time.GetUtcNow() - _options.AuditRetention;
        var deleted = _store.DeleteFinishedBefore(cutoff);
        if (deleted > 0) RpcLog.RetentionSwept(_logger, deleted, cutoff);
        return deleted;
    }

    /// <summary>
    /// Fails the calls this node had sent when it stopped: a single gateway fails every sent call; a cluster node only
    /// its own (and unnamed ones from before the cluster), so the calls other nodes are waiting on stay alone.
    /// </summary>
    private void RecoverInterrupted()
    {
        var ids = _node is null ? _store.IdsInStatus(RpcStatuses.Sent) : [.. _store.SentIdsOf(_node), .. _store.SentIdsOf(null)];
        FailInterrupted(ids);
    }

    /// <summary>
    /// The lease owner's rule for a node that died and may never restart: its sent calls (sent before
    /// <paramref name="sentBefore"/>, so a node just started and not yet heard of keeps its own) fail as gateway_restarted.
    /// </summary>
    internal int FailCallsOfDeadNodes(IReadOnlyCollection<string> aliveNodes, DateTimeOffset sentBefore)
    {
        var failed = 0;
        foreach (var node in _store.NodesWithSentCalls())
        {
            if (node == _node || aliveNodes.Contains(node)) continue;
            failed += FailInterrupted(_store.SentIdsOf(node, sentBefore));
        }
        return failed;
    }

    private int FailInterrupted(IReadOnlyList<string> ids)
    {
        var now = _time.GetUtcNow();
        var failed = 0;
        foreach (var id in ids)
        {
            if (Load(id) is { } call) RpcLog.Interrupted(_logger, id, call.DeviceId);
            if (Change(id, RpcStatuses.Sent, RpcStatuses.Failed, now, new RpcCallChange(Error: GatewayRestarted, Completes: true))) failed++;
        }
        return failed;
    }

    private async Task<RpcCall> WaitSettledAsync(RpcCall call, CancellationToken ct)
    {
        if (call.IsSettled) return call;
        if (call.Status == RpcStatuses.Queued && !CanDeliver(call.DeviceId) && !DeliveredElsewhere(call.DeviceId)) return call;
        var settled = new TaskCompletionSource<RpcCall>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(RpcCall changed)
        {
            if (changed.Id == call.Id && changed.IsSettled) settled.TrySetResult(changed);
        }
        CallChanged += OnChanged;
        try
        {
            // Read again after subscribing, so a change in between is not missed.
            var current = Load(call.Id) ?? call;
            if (current.IsSettled) return current;
            var wait = TimeSpan.FromMilliseconds(call.TimeoutMs) + WaitGrace;
            // A call delivered by another node (persistent, device connected there) changes in the shared database only.
            // Also a call another node sent (found by its idempotencyKey): that node records its outcome.
            if (DeliveredElsewhere(call.DeviceId) || (_node is not null && call.Node is { } sender && sender != _node)) return await PollSettledAsync(call.Id, settled.Task, wait, ct) ?? current;
            try
            {
                return await settled.Task.WaitAsync(wait, _time, ct);
            }
            catch (TimeoutException)
            {
                return Load(call.Id) ?? current;
            }
        }
        finally
        {
            CallChanged -= OnChanged;
        }
    }

    private async Task<RpcCall?> PollSettledAsync(string id, Task<RpcCall> changed, TimeSpan wait, CancellationToken ct)
    {
        var until = _time.GetUtcNow() + wait;
        while (true)
        {
            if (changed.IsCompleted) return await changed;
            var current = Load(id);
            if (current is null || current.IsSettled || _time.GetUtcNow() >= until) return current;
            await Task.WhenAny(changed, Task.Delay(ClusterPollInterval, _time, ct));
            ct.ThrowIfCancellationRequested();
        }
    }

    private async Task FollowAsync(RpcCall call, DeviceRequest request, DateTimeOffset sentAt)
    {
        try
        {
            var reply = await request.Reply;
            Record(call, reply, sentAt);
        }
        catch (Exception e)
        {
            RpcLog.FollowFailed(_logger, e, call.Id, call.DeviceId);
        }
    }

    /// <summary>Moves a sent call to the outcome of its request; returns the status it reached.</summary>
    private string Record(RpcCall call, DeviceReply reply, DateTimeOffset sentAt)
    {
        var now = _time.GetUtcNow();
        var duration = Math.Max(0, (long)(now - sentAt).TotalMilliseconds);
        var (to, change) = reply.Kind switch
        {
            DeviceReplyKind.Succeeded when call.Endpoint == Endpoints.Reboot => (RpcStatuses.Rebooting, new RpcCallChange(
                ResultJson: reply.ResultJson, DurationMs: duration, AckBootId: reply.BootId, ConfirmDeadline: now + _options.RebootConfirmTimeout)),
            DeviceReplyKind.Succeeded => (RpcStatuses.Succeeded, new RpcCallChange(ResultJson: reply.ResultJson, DurationMs: duration, Completes: true)),
            DeviceReplyKind.Timeout => (RpcStatuses.Timeout, new RpcCallChange(Error: ErrorCodes.Timeout, DurationMs: duration, Completes: true)),
            _ => (RpcStatuses.Failed, new RpcCallChange(Error: reply.Error ?? ErrorCodes.DeviceDisconnected, DurationMs: duration, Completes: true)),
        };
        if (!Change(call.Id, RpcStatuses.Sent, to, now, change)) return Load(call.Id)?.Status ?? to;
        if (to == RpcStatuses.Rebooting)
        {
            if (_registry.Find(reply.ClientId) is { } acking) acking.Items[RebootAcknowledgedItem] = true;
            // The device may already be back (its new connection authenticated before this was recorded).
            if (_registry.FindDevice(call.DeviceId) is { } current && current.ClientId != reply.ClientId)
            {
                ConfirmReboots(call.DeviceId, current.ClientId, current.BootId);
            }
        }
        return to;
    }

    /// <summary>Confirms this device's acknowledged reboots if the connection that just authenticated shows a new boot.</summary>
    private void ConfirmReboots(string deviceId, string clientId, long? bootId)
    {
        foreach (var id in _store.IdsInStatus(RpcStatuses.Rebooting, deviceId))
        {
            if (Load(id) is not { } call) continue;
            // A device that never reported a bootId (the seed sketch) can only show it is back by reconnecting.
            var newBoot = call.AckBootId is not { } acked || (bootId is { } current && current > acked);
            if (newBoot) Change(id, RpcStatuses.Rebooting, RpcStatuses.Confirmed, _time.GetUtcNow(), new RpcCallChange(Completes: true));
        }
    }

    private bool CanDeliver(string deviceId) =>
        _registry.FindDevice(deviceId) is { } session && !session.TryGetItem(RebootAcknowledgedItem, out _) && _channel.IsConnected(deviceId);

    /// <summary>Cluster: the device is connected to another node, which delivers its queued calls (never on a single gateway).</summary>
    private bool DeliveredElsewhere(string deviceId) =>
        _node is not null && _registry.FindDevice(deviceId) is null && _channel.IsConnected(deviceId);

    /// <summary>Starts the device's delivery loop, or asks the running one to look again: one loop per device keeps queued calls in order.</summary>
    private void Kick(string deviceId)
    {
        lock (_delivering)
        {
            if (_delivering.ContainsKey(deviceId))
            {
                _delivering[deviceId] = true;
                return;
            }
            _delivering[deviceId] = false;
        }
        RunInBackground(async () =>
        {
            while (true)
            {
                try
                {
                    await DeliverQueuedAsync(deviceId);
                }
                catch (Exception e)
                {
                    RpcLog.DeliveryFailed(_logger, e, deviceId);
                }
                lock (_delivering)
                {
                    if (!_delivering[deviceId])
                    {
                        _delivering.Remove(deviceId);
                        return;
                    }
                    _delivering[deviceId] = false;
                }
            }
        });
    }

    /// <summary>Sends a device's queued calls oldest first, one at a time, each after the previous one's outcome.</summary>
    private async Task DeliverQueuedAsync(string deviceId)
    {
        while (CanDeliver(deviceId))
        {
            var now = _time.GetUtcNow();
            if (_store.NextQueued(deviceId, now) is not { } next) return;
            // Claimed in the database first: the expiry sweep cannot expire a call that is being delivered.
            if (!Change(next.Id, RpcStatuses.Queued, RpcStatuses.Sent, now, new RpcCallChange(SentAt: now, Node: _node))) continue;
            var request = _channel.Send(deviceId, next.Id, next.Endpoint, next.DataJson, TimeSpan.FromMilliseconds(next.TimeoutMs));
            if (!request.Sent)
            {
                // The device left between the check and the send: the call never went out, so it waits again.
                _store.RevertToQueued(next.Id);
                if (Load(next.Id) is { } reverted) CallChanged?.Invoke(reverted);
                return;
            }
            var reply = await request.Reply;
            if (Record(RpcCall.FromRow(next), reply, now) == RpcStatuses.Rebooting) return;
        }
    }

    private RpcCall? Load(string id) => _store.Get(id) is { } row ? RpcCall.FromRow(row) : null;

    private bool Change(string id, string from, string to, DateTimeOffset now, RpcCallChange change)
    {
        if (!_store.Transition(id, from, to, now, change)) return false;
        if (Load(id) is { } call)
        {
            if (change.Error is { } error) RpcLog.CallFailed(_logger, id, call.DeviceId, to, error);
            else RpcLog.CallChanged(_logger, id, call.DeviceId, to);
            CallChanged?.Invoke(call);
        }
        return true;
    }

    private RpcCall NewCall(string id, DeviceCallRequest request, RpcCaller caller, DateTimeOffset now, string status, string? error = null) => new()
    {
        Id = id,
        DeviceId = request.DeviceId,
        Endpoint = request.Endpoint,
        DataJson = request.DataJson,
        Status = status,
        Caller = caller.Principal,
        Role = caller.Role,
        CreatedAt = now,
        UpdatedAt = now,
        CompletedAt = status == RpcStatuses.Failed ? now : null,
        Error = error,
        Persistent = request.Persistent,
        ExpiresAt = request.Persistent ? now + request.Ttl : null,
        TimeoutMs = (long)request.Timeout.TotalMilliseconds,
        IdempotencyKey = request.IdempotencyKey,
        IdempotentUntil = request.IdempotencyKey is null ? null : now + request.Ttl,
        SentAt = status == RpcStatuses.Sent ? now : null,
        Node = status == RpcStatuses.Sent ? _node : null,
        History = [new RpcStatusChange(status, now)],
    };

    private static bool IsSameCall(RpcCall existing, DeviceCallRequest request) =>
        existing.Endpoint == request.Endpoint
        && existing.Persistent == request.Persistent
        && JsonNode.DeepEquals(JsonNode.Parse(existing.DataJson), JsonNode.Parse(request.DataJson));

    /// <summary>Runs work the caller does not wait for, remembered so shutdown can let it finish its database writes.</summary>
    private void RunInBackground(Func<Task> work)
    {
        var task = Task.Run(work);
        lock (_background) _background.Add(task);
        task.ContinueWith(t =>
        {
            lock (_background) _background.Remove(t);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        Task[] running;
        lock (_background) running = [.. _background];
        try
        {
            await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // A device that never answers cannot hold up shutdown; startup marks its call failed.
        }
    }
}
