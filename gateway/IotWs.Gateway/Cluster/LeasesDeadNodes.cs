using IotWs.Gateway.Configuration;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Rpc;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Cluster;

/// <summary>
/// The lease owner's clean-up after a node that died (heartbeat older than NodeTimeout, or its will): the devices it
/// held and that did not reconnect elsewhere go offline (one presence change, written and published by the owner,
/// which also judges the offline alert rules), and the calls that node had sent fail as gateway_restarted — nobody
/// is left to hear their answers. Runs when a node leaves and, for the calls, as a safety net for nodes that died
/// while no owner was watching, every NodeTimeout. Nothing runs on a single gateway.
/// </summary>
internal sealed partial class DeadNodeCleanup(
    IClusterBus bus,
    IClusterLeases leases,
    DeviceCalls calls,
    DeviceOwnership owners,
    PresenceTracker presence,
    IOptions<GatewayOptions> options,
    TimeProvider time,
    ILogger<DeadNodeCleanup> logger) : BackgroundService
{
    private readonly TimeSpan _nodeTimeout = options.Value.Cluster.NodeTimeout;
    private readonly Lock _gate = new();
    private DateTimeOffset _startedAt;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (!bus.IsEnabled) return Task.CompletedTask;
        _startedAt = time.GetUtcNow();
        bus.NodeLeft += OnNodeLeft;
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (!bus.IsEnabled) return;
        bus.NodeLeft -= OnNodeLeft;
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_nodeTimeout, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Sweep();
                MarkUnheldOffline();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Fails the sent calls of every node that is not alive (only the owner, and only once it has heard every live node).</summary>
    internal int Sweep()
    {
        var now = time.GetUtcNow();
        // A new owner has not yet heard every live node's heartbeat: a node it does not know yet is not dead.
        if (!leases.IsOwner(ClusterWork.RpcRecovery) || now - _startedAt < _nodeTimeout) return 0;
        try
        {
            lock (_gate)
            {
                var alive = bus.Nodes.Where(n => n.Alive).Select(n => n.NodeId).ToHashSet(StringComparer.Ordinal);
                var failed = calls.FailCallsOfDeadNodes(alive, now - _nodeTimeout);
                if (failed > 0) CallsFailed(logger, failed);
                return failed;
            }
        }
        catch (Exception e)
        {
            SweepFailed(logger, e);
            return 0;
        }
    }

    /// <summary>
    /// Takes offline the devices shown online that no live node holds and that have been silent past their timeout:
    /// those of a node that died while no owner was watching, or of a cluster whose nodes all restarted (each node
    /// loads the last written state, and a device without a connection anywhere is judged by no one else).
    /// </summary>
    internal int MarkUnheldOffline()
    {
        if (!leases.IsOwner(ClusterWork.OfflineDetection) || time.GetUtcNow() - _startedAt < _nodeTimeout) return 0;
        var marked = 0;
        try
        {
            foreach (var deviceId in presence.SilentWithoutConnection(_nodeTimeout))
            {
                if (owners.NodeOf(deviceId) is null && presence.MarkOffline(deviceId, PresenceReasons.NotHeld)) marked++;
            }
            if (marked > 0) UnheldMarked(logger, marked);
        }
        catch (Exception e)
        {
            SweepFailed(logger, e);
        }
        return marked;
    }

    private void OnNodeLeft(ClusterNode node)
    {
        if (!leases.IsOwner(ClusterWork.OfflineDetection)) return;
        // The devices it held, read now: the ownership map still has them when NodeLeft is raised.
        var devices = owners.DevicesOf(node.NodeId);
        // Off the bus's receive loop: this writes to the database.
        _ = Task.Run(() =>
        {
            NodeDied(logger, node.NodeId, devices.Count);
            MarkOffline(node.NodeId, devices);
            Sweep();
        });
    }

    /// <summary>Takes offline the devices a dead node held, unless they have a connection again (here or, per the ownership map, elsewhere).</summary>
    internal int MarkOffline(string nodeId, IReadOnlyCollection<string> devices)
    {
        var marked = 0;
        foreach (var deviceId in devices)
        {
            try
            {
                if (owners.NodeOf(deviceId) is not null) continue;
                if (presence.MarkOffline(deviceId, $"node {nodeId} stopped")) marked++;
            }
            catch (Exception e)
            {
                SweepFailed(logger, e);
            }
        }
        return marked;
    }

    [LoggerMessage(1420, LogLevel.Warning, "Node {NodeId} left the cluster holding {Devices} devices: the owner cleans up after it")]
    private static partial void NodeDied(ILogger logger, string nodeId, int devices);

    [LoggerMessage(1421, LogLevel.Warning, "Failed {Count} calls that nodes no longer alive had sent (gateway_restarted)")]
    private static partial void CallsFailed(ILogger logger, int count);

    [LoggerMessage(1423, LogLevel.Warning, "Took {Count} devices offline that were shown online, silent past their timeout, with no gateway holding them")]
    private static partial void UnheldMarked(ILogger logger, int count);

    [LoggerMessage(1422, LogLevel.Error, "Cleaning up after dead nodes failed")]
    private static partial void SweepFailed(ILogger logger, Exception e);
}
