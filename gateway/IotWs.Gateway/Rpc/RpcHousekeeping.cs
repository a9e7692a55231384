using IotWs.Gateway.Cluster;
using IotWs.Gateway.Connections;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Rpc;

/// <summary>
/// Wires RPC to connection events and runs its sweeps: queued calls past their TTL become expired, acknowledged
/// reboots past their window become unconfirmed, and finished calls older than AuditRetention leave the audit log.
/// </summary>
internal sealed class RpcHousekeeping(
    DeviceCalls calls,
    GatewayEvents events,
    IOptions<RpcOptions> options,
    TimeProvider time,
    IClusterLeases leases,
    ILogger<RpcHousekeeping> logger) : BackgroundService
{
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        events.ClientAuthenticated += calls.OnClientAuthenticated;
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // No new deliveries while the gateway stops; disconnects still fail pending calls (LocalDeviceRequests).
        events.ClientAuthenticated -= calls.OnClientAuthenticated;
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Off the start-up path: a first retention sweep over a large log must not delay start.
        await Task.Yield();
        var o = options.Value;
        var nextRetention = time.GetUtcNow();
        using var timer = new PeriodicTimer(o.SweepInterval, time);
        try
        {
            do
            {
                try
                {
                    calls.Sweep();
                    // Deleting old audit entries is retention: in a cluster the lease owner does it for everyone.
                    if (time.GetUtcNow() >= nextRetention && leases.IsOwner(ClusterWork.Retention))
                    {
                        calls.DeleteExpiredAuditEntries();
                        nextRetention = time.GetUtcNow() + o.RetentionSweepInterval;
                    }
                }
                catch (Exception e)
                {
                    RpcLog.SweepFailed(logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
