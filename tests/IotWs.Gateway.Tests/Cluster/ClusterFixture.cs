using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Readings;
using IotWs.Mqtt.Tests.Infrastructure;
using Npgsql;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>
/// A whole cluster on loopback, as an operator would run it: one real PostgreSQL, one real Mosquitto, three gateway
/// processes on the shared database, and haproxy in front. Devices and keys are provisioned with the CLI against
/// the shared database before the first gateway starts. Nothing starts where a server is missing (the tests skip),
/// except under CI=true, where they fail.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    /// <summary>The devices every test may use, each test its own (provisioned once, by `devices import`).</summary>
    public static readonly string[] DeviceIds =
    [
        "stream-0", "stream-1", "stream-2", "stream-3",
        "live-1", "takeover-1", "status-1", "ping-1", "queued-1", "alert-1",
    ];

    private readonly Dictionary<string, string> _tokens = [];
    private PostgresServer? _postgres;
    private MosquittoBroker? _broker;
    private HaproxyServer? _proxy;
    private string? _cliDir;

    public IReadOnlyList<GatewayNode> Nodes { get; private set; } = [];

    public HaproxyServer Proxy => _proxy ?? throw NotStarted();

    public string ConnectionString { get; private set; } = "";

    public string AdminKey { get; private set; } = "";

    public string TechnicianKey { get; private set; } = "";

    public string ViewerKey { get; private set; } = "";

    public string Token(string deviceId) => _tokens[deviceId];

    public async Task InitializeAsync()
    {
        if (ClusterFactAttribute.SkipReason is not null) return;
        _postgres = await PostgresServer.StartAsync();
        ConnectionString = await _postgres.CreateDatabaseAsync();
        _broker = await MosquittoBroker.StartAsync(persistent: false);
        await ProvisionAsync();

        var nodes = new[] { "node-a", "node-b", "node-c" }.Select(name => new GatewayNode(name, TestGateway.NewDataDir(), Settings(name))).ToArray();
        await Task.WhenAll(nodes.Select(n => n.StartAsync()));
        Nodes = nodes;
        _proxy = await HaproxyServer.StartAsync(nodes.Select(n => (n.Name, n.Port)).ToArray());
    }

    /// <summary>
    /// What every node is started with: the shared database and broker, its own node id, heartbeats fast enough for a
    /// test to see a node die (4 × 250 ms), fast commits and no rate limit in the way of a stream.
    /// </summary>
    private string[] Settings(string nodeId) =>
    [
        "Cluster:Enabled=true",
        "Cluster:NodeId=" + nodeId,
        "Cluster:Mqtt:Host=127.0.0.1",
        "Cluster:Mqtt:Port=" + _broker!.Port.ToString(CultureInfo.InvariantCulture),
        "Cluster:HeartbeatInterval=00:00:00.250",
        "Cluster:NodeTimeout=00:00:01",
        "Storage:Provider=Postgres",
        "Storage:ConnectionString=" + ConnectionString,
        "Storage:CommitInterval=00:00:00.020",
        "TrustedProxies:0=127.0.0.1",
        "RateLimit:MessagesPerSecond=100000",
        "RateLimit:Burst=100000",
        "Rpc:SweepInterval=00:00:00.050",
        // One rule, for one device: no other test raises an alert.
        "Alerts:Rules:0:Name=cluster-hot",
        "Alerts:Rules:0:Metric=temperature",
        "Alerts:Rules:0:Comparison=above",
        "Alerts:Rules:0:Threshold=40",
        "Alerts:Rules:0:DeviceId=alert-1",
        "Alerts:CheckInterval=00:00:00.200",
    ];

    /// <summary>`devices import` and `keys add` run as their own processes with the same storage keys as the nodes.</summary>
    private async Task ProvisionAsync()
    {
        _cliDir = TestGateway.NewDataDir();
        string[] storage = ["--Gateway:Storage:Provider=Postgres", "--Gateway:Storage:ConnectionString=" + ConnectionString];
        var csv = Path.Combine(_cliDir, "devices.csv");
        await File.WriteAllLinesAsync(csv, ["deviceId,name", .. DeviceIds.Select(id => id + "," + id)]);
        // The first verb creates the schema; the others run together once it exists.
        var import = await Cli(["devices", "import", csv, .. storage]);
        foreach (var line in import.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var row = JsonDocument.Parse(line).RootElement;
            _tokens[row.GetProperty("deviceId").GetString()!] = row.GetProperty("token").GetString()!;
        }
        var keys = await Task.WhenAll(new[] { "admin", "technician", "viewer" }.Select(role => Cli(["keys", "add", "test-" + role, "--role", role, .. storage])));
        (AdminKey, TechnicianKey, ViewerKey) = (Key(keys[0]), Key(keys[1]), Key(keys[2]));

        static string Key(string printed) => JsonDocument.Parse(printed).RootElement.GetProperty("key").GetString()!;
    }

    private async Task<string> Cli(string[] args)
    {
        var (code, output, error) = await CliProcess.RunAsync(_cliDir!, args);
        if (code != 0) throw new InvalidOperationException($"{string.Join(' ', args.Take(3))} exited with {code}: {error}");
        return output;
    }

    /// <summary>An HTTP client on one node (or the proxy) with an API key.</summary>
    public static HttpClient Http(Uri baseAddress, string key)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(15) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    /// <summary>Rows of a query on the shared database, each as its column values.</summary>
    public async Task<List<object[]>> QueryAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object[]>();
        while (await reader.ReadAsync())
        {
            var row = new object[reader.FieldCount];
            reader.GetValues(row);
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>What the nodes and the proxy printed, for a failing test's message.</summary>
    public string Logs() =>
        string.Join("\n", Nodes.Select(n => $"--- {n.Name} (pid {n.Pid}):\n{n.Output}")) + $"\n--- haproxy:\n{_proxy?.Output}";

    public async Task DisposeAsync()
    {
        if (_proxy is not null) await _proxy.DisposeAsync();
        foreach (var node in Nodes) await node.DisposeAsync();
        if (_broker is not null) await _broker.DisposeAsync();
        if (_postgres is not null) await _postgres.DisposeAsync();
        if (_cliDir is not null) Directory.Delete(_cliDir, recursive: true);
    }

    private static InvalidOperationException NotStarted() =>
        new(ClusterFactAttribute.SkipReason ?? "The cluster did not start.");
}

/// <summary>One gateway process of the cluster: its own data directory, a port kept across restarts (haproxy names it).</summary>
public sealed class GatewayNode(string name, string dataDir, string[] settings) : IAsyncDisposable
{
    private GatewayProcess? _process;

    public string Name => name;

    public int Port { get; private set; }

    public Uri HttpBase => _process?.HttpBase ?? throw new InvalidOperationException($"{name} is not running");

    public Uri WsUri => _process?.WsUri ?? throw new InvalidOperationException($"{name} is not running");

    public int Pid => _process?.Pid ?? 0;

    public bool IsRunning => _process is { HasExited: false };

    public string Output => _process?.Output ?? "";

    public async Task StartAsync()
    {
        if (IsRunning) return;
        if (_process is not null) await _process.DisposeAsync();
        _process = await GatewayProcess.StartAsync(dataDir, Port, settings);
        Port = _process.HttpBase.Port;
    }

    /// <summary>SIGKILL, as when the power goes: no shutdown code runs.</summary>
    public void Kill() => _process?.Kill();

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{name} on {Port}");
}

/// <summary>
/// A test that needs the whole cluster (PostgreSQL, Mosquitto, haproxy): skipped with the reason where one is not
/// installed, except under CI=true, where the fixture's start fails with what to install.
/// </summary>
public sealed class ClusterFactAttribute : FactAttribute
{
    public ClusterFactAttribute()
    {
        if (SkipReason is { } reason) Skip = reason;
    }

    public static string? SkipReason
    {
        get
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)) return null;
            if (PostgresServer.SkipReason is { } postgres) return postgres;
            if (!File.Exists(MosquittoBroker.BrokerPath)) return $"{MosquittoBroker.BrokerPath} is not installed (apt-get install -y mosquitto); with CI=true this test fails instead.";
            if (!File.Exists(HaproxyServer.BinaryPath)) return $"{HaproxyServer.BinaryPath} is not installed (apt-get install -y haproxy); with CI=true this test fails instead.";
            return null;
        }
    }
}
