using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using IotWs.Firmware.Host;
using IotWs.Gateway;
using IotWs.Gateway.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace IotWs.Firmware.Tests.EndToEnd;

/// <summary>
/// The real gateway on a fixed loopback port, so it can be stopped and started again on the same
/// address and data directory while simulated boards keep trying to reach it.
/// </summary>
internal sealed class RealGateway : IAsyncDisposable
{
    private WebApplication? _app;
    private readonly string[] _extraArgs;

    private RealGateway(int port, string dataDir, string[]? extraArgs = null)
    {
        Port = port;
        DataDir = dataDir;
        _extraArgs = extraArgs ?? [];
    }

    public int Port { get; }
    public string DataDir { get; }
    public Uri WsUrl => new($"ws://127.0.0.1:{Port}/ws");
    public bool IsRunning => _app is not null;

    public static async Task<RealGateway> StartAsync() => await StartAsync(FreePort(), []);

    /// <summary>Starts on the given port with more command-line arguments (e.g. --simulate 1).</summary>
    public static async Task<RealGateway> StartAsync(int port, params string[] extraArgs)
    {
        var gateway = new RealGateway(port, Directory.CreateTempSubdirectory("iotws-e2e-").FullName, extraArgs);
        try
        {
            await gateway.StartAgainAsync();
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
        return gateway;
    }

    /// <summary>
    /// A second gateway whose data directory is a copy of this running one's (same devices, tokens and
    /// keys; the database copied with SQLite's online backup), so the same boards can authenticate on
    /// either: two nodes as a device sees them.
    /// </summary>
    public async Task<RealGateway> StartTwinAsync(int? port = null)
    {
        var twin = new RealGateway(port ?? FreePort(), Directory.CreateTempSubdirectory("iotws-e2e-twin-").FullName);
        foreach (var file in Directory.EnumerateFiles(DataDir, "*", SearchOption.AllDirectories))
        {
            var name = Path.GetFileName(file);
            if (name is "gateway.lock" or "gateway.pid" || name.StartsWith("iotws.db", StringComparison.Ordinal)) continue;
            var target = Path.Combine(twin.DataDir, Path.GetRelativePath(DataDir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        using (var source = new SqliteConnection($"Data Source={Path.Combine(DataDir, "iotws.db")};Pooling=false"))
        using (var copy = new SqliteConnection($"Data Source={Path.Combine(twin.DataDir, "iotws.db")};Pooling=false"))
        {
            source.Open();
            copy.Open();
            source.BackupDatabase(copy);
        }
        await twin.StartAgainAsync();
        return twin;
    }

    public async Task StartAgainAsync()
    {
        var app = GatewayApp.Build(["--urls", $"http://127.0.0.1:{Port}", "--data-dir", DataDir, "--Logging:LogLevel:Default=Warning", .. _extraArgs]);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        _app = app;
    }

    public async Task StopAsync()
    {
        var app = _app ?? throw new InvalidOperationException("not running");
        _app = null;
        await app.StopAsync();
        await app.DisposeAsync();
    }

    private IdentityStore Identities => _app!.Services.GetRequiredService<IdentityStore>();

    public IReadOnlyList<DeviceCredential> AddDevices(params string[] ids) =>
        ids.Select(id => new DeviceCredential(id, Identities.AddDevice(id, null, null))).ToList();

    public HttpClient Http(string role)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", Identities.AddKey(role + "-" + Guid.NewGuid().ToString("N")[..6], role));
        return http;
    }

    /// <summary>Every stored (bootId, seq) of a device, read through a fresh connection to the database file.</summary>
    public List<(long BootId, long Seq)> StoredKeys(string deviceId)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(DataDir, "iotws.db")};Pooling=false");
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT boot_id, seq FROM readings WHERE device_id = $d ORDER BY boot_id, seq";
        cmd.Parameters.AddWithValue("$d", deviceId);
        using var reader = cmd.ExecuteReader();
        var keys = new List<(long, long)>();
        while (reader.Read()) keys.Add((reader.GetInt64(0), reader.GetInt64(1)));
        return keys;
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await StopAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
