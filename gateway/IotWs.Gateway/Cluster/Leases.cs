using IotWs.Gateway.Configuration;
using IotWs.Gateway.Storage;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Cluster;

/// <summary>Work that runs on one gateway of a cluster only: the node holding the owner lease.</summary>
public static class ClusterWork
{
    public const string Alerts = "alerts";
    public const string Retention = "retention";
    /// <summary>Marking offline the devices of a node whose heartbeat stopped.</summary>
    public const string OfflineDetection = "offline-detection";
    /// <summary>Failing the calls in flight of a node that died.</summary>
    public const string RpcRecovery = "rpc-recovery";
}

/// <summary>
/// Which work this gateway does: on a single gateway all of it (no lease, no thread); in a cluster, the work of
/// <see cref="ClusterWork"/> only while this node holds the owner lease in the shared database.
/// </summary>
public interface IClusterLeases
{
    /// <summary>This node's id in the cluster; null on a single gateway.</summary>
    string? NodeId { get; }

    bool IsOwner(string work);

    /// <summary>Raised with true when this node took the owner lease, false when it lost or gave it up.</summary>
    event Action<bool>? OwnershipChanged;
}

/// <summary>
/// Holds the cluster's owner lease when it can: takes it at start if it is free, renews it every HeartbeatInterval for
/// NodeTimeout, gives it up on a clean stop. One lease covers all single-owner work, so the node that marks a dead
/// node's devices offline is also the one that raises their alerts. A node that cannot renew (database away) stops
/// calling itself owner one renewal before its lease runs out, so two nodes never both act as owner.
/// </summary>
internal sealed partial class ClusterLeases : BackgroundService, IClusterLeases
{
    public const string LeaseName = "owner";

    private readonly ILeaseStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<ClusterLeases> _logger;
    private readonly bool _enabled;
    private readonly TimeSpan _renewEvery;
    private readonly TimeSpan _length;
    private readonly Lock _gate = new();
    private volatile bool _owner;
    private DateTimeOffset _renewedAt;

    public ClusterLeases(ILeaseStore store, IClusterBus bus, IOptions<GatewayOptions> options, TimeProvider time, ILogger<ClusterLeases> logger)
    {
        var cluster = options.Value.Cluster;
        _store = store;
        _time = time;
        _logger = logger;
        _enabled = cluster.Enabled;
        // The lease's holder is the node id the bus announces, so "holder" and "node" mean the same everywhere.
        NodeId = cluster.Enabled ? bus.NodeId : null;
        _renewEvery = cluster.HeartbeatInterval;
        _length = cluster.NodeTimeout;
    }

    public string? NodeId { get; }

    public event Action<bool>? OwnershipChanged;

    public bool IsOwner(string work) => !_enabled || _owner;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // A single gateway owns everything: no lease, no timer.
        if (!_enabled) return Task.CompletedTask;
        // At start, before devices connect: the first node up is the owner at once.
        Renew();
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (!_enabled) return;
        await base.StopAsync(cancellationToken);
        if (!_owner) return;
        try
        {
            _store.Release(LeaseName, NodeId!);
            LeaseReleased(_logger, NodeId!);
        }
        catch (Exception e)
        {
            RenewFailed(_logger, e, NodeId!);
        }
        SetOwner(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_renewEvery, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) Renew();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Takes or renews the lease once; the outcome decides whether this node is the owner.</summary>
    internal void Renew()
    {
        var now = _time.GetUtcNow();
        try
        {
            var held = _store.TryAcquire(LeaseName, NodeId!, now, now + _length);
            if (held) _renewedAt = now;
            SetOwner(held);
        }
        catch (Exception e)
        {
            RenewFailed(_logger, e, NodeId!);
            // Another node may take the lease once it expires: stop one renewal before that.
            if (_owner && now - _renewedAt >= _length - _renewEvery) SetOwner(false);
        }
    }

    private void SetOwner(bool owner)
    {
        lock (_gate)
        {
            if (_owner == owner) return;
            _owner = owner;
        }
        if (owner) LeaseTaken(_logger, NodeId!);
        else LeaseLost(_logger, NodeId!);
        try
        {
            OwnershipChanged?.Invoke(owner);
        }
        catch (Exception e)
        {
            ObserverFailed(_logger, e);
        }
    }

    [LoggerMessage(1401, LogLevel.Information, "Node {NodeId} holds the owner lease: it evaluates alerts, runs retention and watches for dead nodes")]
    private static partial void LeaseTaken(ILogger logger, string nodeId);

    [LoggerMessage(1402, LogLevel.Warning, "Node {NodeId} no longer holds the owner lease")]
    private static partial void LeaseLost(ILogger logger, string nodeId);

    [LoggerMessage(1403, LogLevel.Information, "Node {NodeId} gave up the owner lease on stopping")]
    private static partial void LeaseReleased(ILogger logger, string nodeId);

    [LoggerMessage(1404, LogLevel.Error, "Node {NodeId} could not take or renew the owner lease")]
    private static partial void RenewFailed(ILogger logger, Exception e, string nodeId);

    [LoggerMessage(1405, LogLevel.Error, "An OwnershipChanged observer failed")]
    private static partial void ObserverFailed(ILogger logger, Exception e);
}
