using System.Text.Json.Nodes;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Status;
using IotWs.Gateway.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Observability;

/// <summary>Settings of section "Gateway:Health".</summary>
public sealed class HealthOptions
{
    public const string Section = "Gateway:Health";

    /// <summary>Readings waiting this long with no commit make the gateway not ready (the writer is stalled).</summary>
    public TimeSpan WriterStallAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the database check waits for the write lock before it calls the database not writable (at least 1 s in effect).</summary>
    public TimeSpan DatabaseLockTimeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// The database takes a write: a write transaction is begun (taking SQLite's write lock, or a PostgreSQL transaction
/// id) and rolled back, so a read-only file or database, a missing directory or another process holding the lock
/// shows, without writing a page.
/// </summary>
internal sealed class DatabaseWritableCheck(IStorageInfo storage, IOptions<HealthOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken) =>
        Task.Run(() => storage.WhyNotWritable(options.Value.DatabaseLockTimeout) is { } why
            ? HealthCheckResult.Unhealthy($"The database does not take writes: {why}")
            : HealthCheckResult.Healthy("The database takes writes."), cancellationToken);
}

/// <summary>
/// The readings writer makes progress: unhealthy when readings have been waiting, with no commit finishing, for
/// Gateway:Health:WriterStallAfter. Progress is noticed between two probes, so a probe every few seconds is enough.
/// </summary>
internal sealed class WriterProgressCheck(ReadingWriter writer, TimeProvider time, IOptions<HealthOptions> options) : IHealthCheck
{
    private readonly object _gate = new();
    private long _progress = -1;
    private DateTimeOffset _since;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        var stats = writer.Stats;
        // A failed commit answers its readings too: it is progress (the database check says why it failed).
        var progress = stats.Commits + stats.Failed;
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (progress != _progress || stats.Queued == 0)
            {
                _progress = progress;
                _since = now;
                return Task.FromResult(HealthCheckResult.Healthy($"{stats.Queued} readings queued."));
            }
            var waited = now - _since;
            return Task.FromResult(waited >= options.Value.WriterStallAfter
                ? HealthCheckResult.Unhealthy($"{stats.Queued} readings have waited {waited.TotalSeconds:0} s with no commit finishing.")
                : HealthCheckResult.Healthy($"{stats.Queued} readings queued."));
        }
    }
}

/// <summary>When the MQTT bridge is enabled, it is connected to its broker (read from its /api/status section).</summary>
internal sealed class MqttConnectedCheck(IEnumerable<IStatusContributor> contributors) : IHealthCheck
{
    private readonly IStatusContributor? _mqtt = contributors.FirstOrDefault(c => c.Section == "mqtt");

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        if (_mqtt?.Snapshot() is not JsonObject status || status["enabled"]?.GetValue<bool>() != true)
            return Task.FromResult(HealthCheckResult.Healthy("The MQTT bridge is disabled."));
        var broker = status["broker"]?.ToString();
        if (status["connected"]?.GetValue<bool>() == true)
            return Task.FromResult(HealthCheckResult.Healthy($"Connected to {broker}."));
        var error = status["lastError"]?.ToString();
        return Task.FromResult(HealthCheckResult.Unhealthy($"Not connected to the MQTT broker {broker}" + (string.IsNullOrEmpty(error) ? "." : $": {error}")));
    }
}
