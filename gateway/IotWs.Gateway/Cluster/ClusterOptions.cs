namespace IotWs.Gateway.Cluster;

/// <summary>Settings of section "Gateway:Cluster": several gateways on one PostgreSQL and one MQTT broker.</summary>
public sealed class ClusterOptions
{
    public bool Enabled { get; set; }

    /// <summary>This gateway's name in the cluster; default host name and port (see <see cref="ClusterNodeId"/>).</summary>
    public string? NodeId { get; set; }

    /// <summary>The broker that carries traffic between gateways (topics under iotws-cluster/).</summary>
    public ClusterBrokerOptions Mqtt { get; set; } = new();

    /// <summary>How often a node publishes its retained heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A node whose newest heartbeat is older than this is dead.</summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>Messages held for the broker while it is away (oldest dropped first).</summary>
    public int QueueCapacity { get; set; } = 50_000;

    /// <summary>The cluster's part of option validation: each entry is one line.</summary>
    internal IEnumerable<string> Validate(Configuration.StorageOptions storage)
    {
        if (!Enabled) yield break;
        if (storage.Provider != Configuration.StorageProvider.Postgres)
            yield return "Gateway:Cluster:Enabled needs Gateway:Storage:Provider=Postgres (every node of a cluster shares one PostgreSQL database; SQLite is for a single gateway).";
        if (string.IsNullOrWhiteSpace(Mqtt.Host))
            yield return "Gateway:Cluster:Mqtt:Host is required when Gateway:Cluster:Enabled is true (the MQTT broker the gateways talk through).";
        if (Mqtt.Port is < 1 or > 65535) yield return $"Gateway:Cluster:Mqtt:Port must be 1-65535 (got {Mqtt.Port}).";
        if (NodeId is { } id && !Identity.IdentityStore.IsValidId(id))
            yield return $"Gateway:Cluster:NodeId '{id}' must be 1-64 letters, digits, '_', '.', ':' or '-' (starting with a letter or digit).";
        if (HeartbeatInterval <= TimeSpan.Zero || HeartbeatInterval > TimeSpan.FromMinutes(1))
            yield return $"Gateway:Cluster:HeartbeatInterval must be positive and at most 00:01:00 (got {HeartbeatInterval}).";
        else if (NodeTimeout < HeartbeatInterval * 2)
            yield return $"Gateway:Cluster:NodeTimeout must be at least twice Gateway:Cluster:HeartbeatInterval (got {NodeTimeout} for {HeartbeatInterval}).";
        if (QueueCapacity < 100) yield return $"Gateway:Cluster:QueueCapacity must be at least 100 (got {QueueCapacity}).";
    }
}

/// <summary>Gateway:Cluster:Mqtt: where the cluster's broker is and how to log in.</summary>
public sealed class ClusterBrokerOptions
{
    public string? Host { get; set; }
    public int Port { get; set; } = 1883;
    public string? Username { get; set; }
    public string? Password { get; set; }
    public bool UseTls { get; set; }
}

/// <summary>The node id when Gateway:Cluster:NodeId is not set: host name and the port of the first configured address.</summary>
public static class ClusterNodeId
{
    public static string Resolve(ClusterOptions options, IConfiguration configuration)
    {
        if (!string.IsNullOrWhiteSpace(options.NodeId)) return options.NodeId;
        var host = new string(Environment.MachineName.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.').ToArray());
        if (host.Length == 0) host = "gateway";
        var urls = configuration["urls"] ?? configuration["ASPNETCORE_URLS"] ?? "http://0.0.0.0:5080";
        var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        var port = Uri.TryCreate(first.Replace("*", "localhost", StringComparison.Ordinal).Replace("+", "localhost", StringComparison.Ordinal), UriKind.Absolute, out var uri) ? uri.Port : 5080;
        // Port 0 (tests, "any free port") says nothing about this process: the process id keeps two such nodes apart.
        var id = port > 0 ? $"{host}:{port}" : $"{host}:pid{Environment.ProcessId}";
        return id.Length <= 64 ? id : id[^64..];
    }
}
