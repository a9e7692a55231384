using System.Net.Http.Headers;
using IotWs.Gateway;
using IotWs.Gateway.Dashboard;
using IotWs.Gateway.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace IotWs.Dashboard.Tests.Infrastructure;

/// <summary>
/// The real gateway (GatewayApp.Build, as Program.cs runs it) on Kestrel at 127.0.0.1 on a
/// random port, with its own temporary data directory and SQLite file.
/// </summary>
public sealed class DashboardGateway : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DashboardGateway(WebApplication app, string dataDir)
    {
        _app = app;
        DataDir = dataDir;
        BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        WsUri = new Uri(BaseUrl.Replace("http://", "ws://", StringComparison.Ordinal) + "/ws");
    }

    public string BaseUrl { get; }
    public Uri WsUri { get; }
    public string DataDir { get; }

    private IdentityStore Identities => _app.Services.GetRequiredService<IdentityStore>();

    /// <summary>Starts a gateway; settings are Gateway options as "Key=Value".</summary>
    public static async Task<DashboardGateway> StartAsync(params string[] settings)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "iotws-dash-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dataDir);
        var args = new List<string>
        {
            "--urls", "http://127.0.0.1:0", "--data-dir", dataDir,
            "--Logging:LogLevel:Default=" + (Environment.GetEnvironmentVariable("IOTWS_TEST_LOG") ?? "Warning"),
        };
        args.AddRange(settings.Select(s => "--Gateway:" + s));
        var app = GatewayApp.Build(args.ToArray());
        await app.StartAsync();
        return new DashboardGateway(app, dataDir);
    }

    /// <summary>Provisions a device and returns its token, as 'devices add' does.</summary>
    public string AddDevice(string deviceId, string? name = null, string? location = null) =>
        Identities.AddDevice(deviceId, name, location);

    /// <summary>Creates an API key of this role and returns it, as 'keys add' does.</summary>
    public string AddKey(string role) => Identities.AddKey(role + "-" + Guid.NewGuid().ToString("N")[..6], role);

    public HttpClient Http(string key)
    {
        var client = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public TestDevice Device(string deviceId, string token, long bootId = 1, int heartbeatMs = 30_000) =>
        new(WsUri, deviceId, token, bootId, heartbeatMs);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // SQLite may still hold a file for a moment; a temp folder left behind is harmless.
        }
    }
}
