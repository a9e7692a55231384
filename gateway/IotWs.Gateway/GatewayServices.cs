using IotWs.Gateway.Api;
using IotWs.Gateway.Cluster;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Dashboard;
using IotWs.Gateway.Http;
using IotWs.Gateway.Identity;
using IotWs.Gateway.LocalSensors;
using IotWs.Gateway.Mqtt;
using IotWs.Gateway.Observability;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Requests;
using IotWs.Gateway.Rpc;
using IotWs.Gateway.Status;
using IotWs.Gateway.Storage;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway;

/// <summary>Registers the gateway's features; Program.cs reads top to bottom through these.</summary>
public static class GatewayServices
{
    /// <summary>Command-line short forms of the product's options.</summary>
    public static readonly Dictionary<string, string> SwitchMappings = new(StringComparer.Ordinal)
    {
        ["--data-dir"] = "Gateway:DataDirectory",
        ["--simulate"] = "Gateway:Simulate",
    };

    public static WebApplicationBuilder AddGatewayConfiguration(this WebApplicationBuilder builder, string[] args)
    {
        var forwarded = args.Where(a => a != "serve").ToArray();
        builder.Configuration.AddCommandLine(forwarded, SwitchMappings);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
        {
            builder.WebHost.UseUrls("http://0.0.0.0:5080");
        }
        return builder;
    }

    public static IServiceCollection AddGateway(this IServiceCollection services)
    {
        services.AddOptions<GatewayOptions>()
            .BindConfiguration(GatewayOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsAnnotations>();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        services.AddSingleton(TimeProvider.System);

        // Storage and identities
        services.AddStorage();
        services.AddLeases();
        services.AddSingleton<IdentityStore>();
        services.AddGatewayAuthentication();
        services.AddHostedService<FirstStartAdminKey>();
        services.AddHostedService<DashboardAddressLog>();

        // Several gateways on one database and one broker (nothing runs on a single Pi)
        services.AddCluster();

        // Connections
        services.AddSingleton<GatewayEvents>();
        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<MessageDispatcher>();
        services.AddSingleton<DeviceSocketEndpoint>();
        services.AddSingleton<IMessageHandler, HandshakeHandler>();
        services.AddSingleton<IMessageHandler, AuthHandler>();
        services.AddSingleton<IMessageHandler, HeartbeatHandler>();

        services.AddSingleton<IotWs.Gateway.Devices.IDevicePresence, IotWs.Gateway.Devices.ConnectionPresence>();

        // Publish/subscribe
        services.AddSingleton<InProcessTopicBroker>();
        services.AddSingleton<ITopicBroker>(sp => sp.GetRequiredService<InProcessTopicBroker>());
        services.AddSingleton<IMessageHandler, PubSubHandlers>();
        services.AddHostedService<SubscriptionCleanup>();

        // Calls to devices, rpc_call methods and their audit log
        services.AddRpc();

        // Requests and status
        services.AddSingleton<IMessageHandler, RequestRouter>();
        services.AddSingleton<IRequestEndpoint, GetTimeEndpoint>();
        services.AddSingleton<IRequestEndpoint, GetConfigEndpoint>();
        services.AddSingleton<IPagedRequestEndpoint, GetStatusEndpoint>();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<GatewayStatus>();
        services.AddPubSubFeatures();
        services.AddReadings();

        services.AddMqttBridge();
        services.AddHostedService<Simulation.SimulationService>();
        // DHT22 sensors wired to the Pi itself, run as loopback devices (Gateway:LocalSensors)
        services.AddLocalSensors();

        // HTTP surface: problem bodies, OpenAPI, metrics and health
        services.AddProblemResponses();
        services.AddTrustedProxies();
        services.AddApiReference();
        services.AddObservability();
        return services;
    }

    public static WebApplication MapGateway(this WebApplication app)
    {
        app.UseTrustedProxies();
        app.UseSecurityHeaders();
        app.UseProblemResponses();
        // WebSockets authenticate in the protocol (docs/access.md), so they branch off before the HTTP authentication and
        // authorization middleware: a connection lives for days, and each middleware frame it passed stays in memory with it.
        app.UseWebSockets();
        var socket = app.Services.GetRequiredService<DeviceSocketEndpoint>();
        // The seed's ESP32 sketch connects to "/", everyone else to "/ws": both reach the same endpoint.
        app.Use(async (context, next) =>
        {
            if (context.WebSockets.IsWebSocketRequest && context.Request.Path == "/")
            {
                await socket.HandleAsync(context);
                return;
            }
            await next(context);
        });
        app.Map("/ws", socket.HandleAsync);
        // Explicitly after the headers and problem bodies, so a 401/403 challenge carries both.
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapObservability();
        app.MapApiReference();
        app.MapStatusApi();
        app.MapSessionApi();
        app.MapRpcApi();
        app.MapPubSubFeatures();
        app.MapReadingsApi();
        app.MapDashboard();
        return app;
    }
}
