using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Configuration;

/// <summary>Settings of section "Gateway" (appsettings.json, Gateway__X environment variables, --Gateway:X=…).</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    [Required] public string DataDirectory { get; set; } = "./data";
    public bool AuthRequired { get; set; } = true;
    public TimeSpan AuthTimeout { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);
    [Range(1, 1_000_000)] public int MaxConnections { get; set; } = 10_000;
    [Range(256, 16 * 1024 * 1024)] public int MaxPayloadSize { get; set; } = 65_536;
    [Range(1, 1000)] public int MaxSubscriptionsPerConnection { get; set; } = 100;
    /// <summary>Messages a connection's outbox holds before the oldest droppable one is dropped.</summary>
    [Range(16, 1_000_000)] public int OutboxCapacity { get; set; } = 1024;
    [ValidateObjectMembers] public RateLimitOptions RateLimit { get; set; } = new();
    [ValidateObjectMembers] public StorageOptions Storage { get; set; } = new();
    public TlsOptions Tls { get; set; } = new();
    /// <summary>Several gateways on one PostgreSQL and one MQTT broker (off on a single Pi).</summary>
    public Cluster.ClusterOptions Cluster { get; set; } = new();
    /// <summary>Seed option requiredFields: fields every sensor reading's data must carry.</summary>
    public string[] RequiredFields { get; set; } = [];
    /// <summary>Seed option fieldsToEncrypt: reading/event fields encrypted at rest.</summary>
    public string[] FieldsToEncrypt { get; set; } = [];
    /// <summary>
    /// Load balancers whose X-Forwarded-For / X-Forwarded-Proto the gateway believes (addresses or CIDR networks, e.g.
    /// "10.0.0.5", "10.0.0.0/24"). Empty (the default): nobody's, so a client cannot claim another address.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];
    /// <summary>After a busy spell, once the gateway is quiet, return the GC heap's free memory to the system (Observability/IdleMemoryTrim).</summary>
    public bool TrimMemoryWhenIdle { get; set; } = true;
    /// <summary>Simulated boards started in-process (the --simulate option).</summary>
    [Range(0, 10_000)] public int Simulate { get; set; }
    public TimeSpan SimulateReadingInterval { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Per-connection token bucket.</summary>
public sealed class RateLimitOptions
{
    [Range(0.1, 1_000_000)] public double MessagesPerSecond { get; set; } = 50;
    [Range(1, 1_000_000)] public int Burst { get; set; } = 200;
    /// <summary>Rejected messages within RejectWindow that make the gateway close with 4429.</summary>
    [Range(1, 1_000_000)] public int RejectionsBeforeClose { get; set; } = 200;
    public TimeSpan RejectWindow { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>The certificate Kestrel serves on https:// addresses (made by `certs create`).</summary>
public sealed class TlsOptions
{
    /// <summary>PEM certificate; default tls/gateway.crt in the data directory.</summary>
    public string? CertificateFile { get; set; }
    /// <summary>PEM private key; default tls/gateway.key in the data directory.</summary>
    public string? KeyFile { get; set; }

    public (string Certificate, string Key) Paths(string dataDirectory)
    {
        var tls = Path.Combine(dataDirectory, IotWs.Gateway.Tls.GatewayCertificate.DirectoryName);
        return (Path.GetFullPath(CertificateFile ?? Path.Combine(tls, IotWs.Gateway.Tls.GatewayCertificate.CertificateFileName)),
                Path.GetFullPath(KeyFile ?? Path.Combine(tls, IotWs.Gateway.Tls.GatewayCertificate.KeyFileName)));
    }
}

/// <summary>
/// Group commit: at most one commit per CommitInterval (sooner when CommitBatchSize readings wait). 250 ms keeps an
/// SD card's writes about 3.5x lower than 50 ms at 50 readings/s, for a dashboard lag nobody sees (docs/performance.md).
/// </summary>
public sealed class StorageOptions
{
    /// <summary>Where the gateway keeps its data: Sqlite (the data directory's iotws.db, the default) or Postgres.</summary>
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;
    /// <summary>An Npgsql connection string; required when Provider is Postgres.</summary>
    public string? ConnectionString { get; set; }
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromMilliseconds(250);
    [Range(1, 100_000)] public int CommitBatchSize { get; set; } = 1000;
    [Range(1, 10_000_000)] public int QueueCapacity { get; set; } = 20_000;
    public TimeSpan RawRetention { get; set; } = TimeSpan.FromDays(30);
    public TimeSpan MinuteRetention { get; set; } = TimeSpan.FromDays(365);
    /// <summary>Zero keeps hourly rollups forever.</summary>
    public TimeSpan HourRetention { get; set; } = TimeSpan.Zero;
    public TimeSpan RetentionSweepInterval { get; set; } = TimeSpan.FromHours(1);
    /// <summary>SQLite synchronous mode of the readings writer: Full survives power loss (an ack means on disk), Normal only process crashes.</summary>
    public string Synchronous { get; set; } = "Full";
    /// <summary>SQLite page cache of the readings writer in KiB (PRAGMA cache_size); a Pi pays it in resident memory (see docs/performance.md).</summary>
    [Range(256, 1_048_576)] public int CacheSizeKiB { get; set; } = 4096;
    /// <summary>Pending per-device index entries written together once a device has this many (see docs/performance.md).</summary>
    [Range(1, 100_000)] public int IndexMergeRun { get; set; } = 64;
    /// <summary>Longest a device's pending index entries wait before they are written anyway.</summary>
    public TimeSpan IndexMergeDelay { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How often rollup deltas gathered in memory are written (queries add the not-yet-written part from raw rows).</summary>
    public TimeSpan RollupFlushInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>The storage implementations a gateway can run on (Gateway:Storage:Provider).</summary>
public enum StorageProvider
{
    Sqlite,
    Postgres,
}

/// <summary>
/// The [Range] and [Required] checks of GatewayOptions and its nested sections, compiled by the options validation
/// generator (no reflection: a trimmed publish keeps them).
/// </summary>
[OptionsValidator]
internal sealed partial class GatewayOptionsAnnotations : IValidateOptions<GatewayOptions>;
