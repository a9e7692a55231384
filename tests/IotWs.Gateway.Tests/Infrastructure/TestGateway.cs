using IotWs.Gateway;
using IotWs.Gateway.Identity;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace IotWs.Gateway.Tests.Infrastructure;

/// <summary>The real gateway on Kestrel at 127.0.0.1 (random port) with its own temp data directory and SQLite file.</summary>
public sealed class TestGateway : IAsyncDisposable
{
    private readonly bool _ownsDirectory;

    private TestGateway(WebApplication app, string dataDir, bool ownsDirectory)
    {
        App = app;
        DataDir = dataDir;
        _ownsDirectory = ownsDirectory;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        HttpBase = new Uri(address);
        WsUri = new Uri(address.Replace("http://", "ws://") + "/ws");
    }

    public WebApplication App { get; }
    public string DataDir { get; }
    public Uri HttpBase { get; }
    public Uri WsUri { get; }
    public IdentityStore Identities => App.Services.GetRequiredService<IdentityStore>();
    public T Service<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <summary>Starts a gateway; settings are Gateway options as "Key=Value" (e.g. "AuthTimeout=00:00:01").</summary>
    public static Task<TestGateway> StartAsync(string? dataDir = null, params string[] settings) => StartAsync(dataDir, null, settings);

    /// <summary>Starts a gateway with a hook on the builder (e.g. to register a fake TimeProvider).</summary>
    public static async Task<TestGateway> StartAsync(string? dataDir, Action<WebApplicationBuilder>? configure, params string[] settings)
    {
        var owns = dataDir is null;
        dataDir ??= NewDataDir();
        var args = new List<string> { "--urls", "http://127.0.0.1:0", "--data-dir", dataDir, "--Logging:LogLevel:Default=" + (Environment.GetEnvironmentVariable("IOTWS_TEST_LOG") ?? "Warning") };
        args.AddRange(settings.Select(s => "--Gateway:" + s));
        var app = GatewayApp.Build(args.ToArray(), configure);
        await app.StartAsync();
        return new TestGateway(app, dataDir, owns);
    }

    public static string NewDataDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iotws-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public string AddDevice(string deviceId) => Identities.AddDevice(deviceId, null, null);

    public string AddKey(string role, string? name = null) => Identities.AddKey(name ?? role + "-" + Guid.NewGuid().ToString("N")[..6], role);

    public HttpClient Http(string? key = null)
    {
        var client = new HttpClient { BaseAddress = HttpBase, Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public Task<TestClient> ConnectAsync() => TestClient.ConnectAsync(WsUri);

    /// <summary>Connects, handshakes and authenticates as a device; returns the client after auth_response success.</summary>
    public Task<TestClient> ConnectDeviceAsync(string deviceId, string token, long bootId = 1, int heartbeatMs = 30000) =>
        TestClient.ConnectDeviceAsync(WsUri, deviceId, token, bootId, heartbeatMs);

    public Task<TestClient> ConnectWithKeyAsync(string key) => TestClient.ConnectWithKeyAsync(WsUri, key);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync();
        }
        finally
        {
            await App.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (_ownsDirectory)
            {
                try { Directory.Delete(DataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }
}
