using IotWs.Gateway.Cluster;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Storage;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Readings;

/// <summary>
/// Deletes what outlived its retention, every Storage:RetentionSweepInterval (TimeProvider clock): raw readings and
/// events after RawRetention, one-minute rollups after MinuteRetention, one-hour rollups after HourRetention (0 = never).
/// In a cluster only the owner lease's holder sweeps (the database is shared; one sweep is enough). Rollups need no
/// owner: on PostgreSQL every node adds its readings to them in its own commit.
/// </summary>
public sealed class ReadingRetention(IReadingStore store, IOptions<GatewayOptions> options, TimeProvider time, IClusterLeases leases, ILogger<ReadingRetention> logger) : BackgroundService
{
    /// <summary>One sweep with the cutoffs of "now" on the gateway's clock.</summary>
    public Task<RetentionResult> SweepAsync(CancellationToken ct)
    {
        var s = options.Value.Storage;
        var now = time.GetUtcNow();
        return store.DeleteExpiredAsync(new RetentionCutoffs(
            now - s.RawRetention,
            now - s.MinuteRetention,
            s.HourRetention > TimeSpan.Zero ? now - s.HourRetention : null), ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Storage.RetentionSweepInterval, time);
        try
        {
            do
            {
                if (!leases.IsOwner(ClusterWork.Retention)) continue;
                try
                {
                    var r = await SweepAsync(stoppingToken);
                    if (r.Readings + r.Events + r.MinuteRollups + r.HourRollups > 0) ReadingsLog.Swept(logger, r.Readings, r.Events, r.MinuteRollups, r.HourRollups);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    ReadingsLog.SweepFailed(logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
