using IotWs.Firmware.Core;
using IotWs.Firmware.Host;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Identity;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Simulation;

/// <summary>
/// --simulate N: provisions boards sim-001… and runs the firmware's own device logic against this
/// gateway over real WebSockets, so a machine without hardware shows live data. With
/// Gateway:SimulateGatewayUrls (a list) the boards use those gateways instead, in order, and fail
/// over between them as the firmware does (a cluster's nodes).
/// </summary>
internal sealed partial class SimulationService(
    IOptions<GatewayOptions> options,
    IConfiguration configuration,
    IdentityStore identities,
    IServer server,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggers) : IHostedService
{
    private static readonly string[] Rooms = ["kitchen", "bedroom", "living room", "attic", "cellar", "garage", "bathroom", "office"];
    private readonly ILogger _logger = loggers.CreateLogger<SimulationService>();
    private SimulatedFleet? _fleet;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var count = options.Value.Simulate;
        if (count <= 0) return Task.CompletedTask;
        var urls = ConfiguredUrls(configuration);
        var credentials = new List<DeviceCredential>();
        for (var i = 1; i <= count; i++)
        {
            var id = $"sim-{i:000}";
            var room = Rooms[(i - 1) % Rooms.Length];
            // Tokens are stored only as hashes, so simulated boards get a fresh one at every start.
            var token = identities.FindDevice(id) is null
                ? identities.AddDevice(id, $"Simulated {room}", room)
                : identities.RotateToken(id);
            credentials.Add(new DeviceCredential(id, token));
        }
        lifetime.ApplicationStarted.Register(() => Start(credentials, urls));
        lifetime.ApplicationStopping.Register(Stop);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Stop();
        return Task.CompletedTask;
    }

    /// <summary>Gateway:SimulateGatewayUrls, checked at start: each a ws:// or wss:// URL, at most 8.</summary>
    internal static IReadOnlyList<Uri> ConfiguredUrls(IConfiguration configuration)
    {
        var section = configuration.GetSection("Gateway:SimulateGatewayUrls");
        // A list (Gateway__SimulateGatewayUrls__0=…) or one comma-separated value.
        var values = section.GetChildren().Select(c => c.Value).Append(section.Value)
            .Where(v => !string.IsNullOrWhiteSpace(v))
            .SelectMany(v => v!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToList();
        if (values.Count > DeviceSettings.MaxGatewayUrls)
            throw new InvalidOperationException($"Gateway:SimulateGatewayUrls lists {values.Count} gateways; at most {DeviceSettings.MaxGatewayUrls}");
        var urls = new List<Uri>();
        foreach (var v in values)
        {
            if (!Uri.TryCreate(v, UriKind.Absolute, out var u) || (u.Scheme != "ws" && u.Scheme != "wss"))
                throw new InvalidOperationException($"Gateway:SimulateGatewayUrls: '{v}' is not a ws:// or wss:// URL (e.g. ws://127.0.0.1:5080/ws)");
            urls.Add(u);
        }
        return urls;
    }

    private void Start(List<DeviceCredential> credentials, IReadOnlyList<Uri> configured)
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://127.0.0.1:5080";
        IReadOnlyList<Uri> urls = configured.Count > 0 ? configured : [new Uri(LocalWebSocketUrl(address))];
        _fleet = SimulatedFleet.Start(
            new SimulatorOptions
            {
                GatewayUrls = urls,
                Devices = credentials,
                ReadingInterval = options.Value.SimulateReadingInterval,
                HeartbeatInterval = TimeSpan.FromSeconds(10),
                StateDirectory = Path.Combine(options.Value.DataDirectory, "simulator"),
            },
            loggers);
        LogStarted(_logger, credentials.Count, string.Join(", ", urls));
    }

    private void Stop()
    {
        var fleet = Interlocked.Exchange(ref _fleet, null);
        fleet?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
    }

    /// <summary>The WebSocket URL of this process as seen from itself: wildcard hosts become loopback.</summary>
    internal static string LocalWebSocketUrl(string address)
    {
        var uri = new Uri(address.Replace("://+", "://localhost").Replace("://*", "://localhost"));
        var host = uri.Host is "0.0.0.0" or "[::]" or "::" or "localhost" ? "127.0.0.1" : uri.Host;
        var scheme = uri.Scheme == "https" ? "wss" : "ws";
        return $"{scheme}://{host}:{uri.Port}/ws";
    }

    [LoggerMessage(1, LogLevel.Information, "Simulating {Count} boards against {Url} (the firmware's device logic on .NET)")]
    private static partial void LogStarted(ILogger logger, int count, string url);
}
