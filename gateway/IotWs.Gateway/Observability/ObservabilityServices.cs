using IotWs.Gateway.Identity;
using IotWs.Protocol;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace IotWs.Gateway.Observability;

/// <summary>Settings of section "Gateway:Metrics".</summary>
public sealed class MetricsOptions
{
    public const string Section = "Gateway:Metrics";

    /// <summary>Serve /metrics without an API key (a Prometheus on a trusted network with no key to hand).</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>Also push metrics to this OTLP endpoint (e.g. http://collector:4317); empty: scrape only.</summary>
    public string? OtlpEndpoint { get; set; }
}

/// <summary>
/// OpenTelemetry metrics (the gateway's meter and ASP.NET Core's) with a Prometheus scrape endpoint at /metrics and an
/// optional OTLP push; ASP.NET Core health checks at /healthz (liveness) and /readyz (readiness).
/// </summary>
public static class ObservabilityServices
{
    public const string MetricsPath = "/metrics";
    /// <summary>Series per metric: the gateway's own (tagged by status, client type or presence state) and ASP.NET Core's.</summary>
    internal const int OwnMetricSeries = 64, FrameworkMetricSeries = 500;
    private const string Ready = "ready";

    public static IServiceCollection AddObservability(this IServiceCollection services)
    {
        services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.Section)
            .Validate(o => string.IsNullOrEmpty(o.OtlpEndpoint) || Uri.TryCreate(o.OtlpEndpoint, UriKind.Absolute, out _), "Gateway:Metrics:OtlpEndpoint must be an absolute URL.")
            .ValidateOnStart();
        services.AddOptions<HealthOptions>().BindConfiguration(HealthOptions.Section)
            .Validate(o => o.WriterStallAfter > TimeSpan.Zero && o.DatabaseLockTimeout > TimeSpan.Zero, "Gateway:Health intervals must be positive.")
            .ValidateOnStart();
        services.AddSingleton<GatewayMeter>();
        services.AddHostedService<GatewayInstruments>();
        services.AddSingleton<IdleMemoryTrim>();
        services.AddHostedService(sp => sp.GetRequiredService<IdleMemoryTrim>());
        services.AddSingleton<Status.IStatusContributor, MemoryStatus>();
        services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(GatewayMeter.Name).AddAspNetCoreInstrumentation().AddPrometheusExporter();
            // Every metric stream allocates its cardinality limit of points up front: 2,000 by default, 4.9 MB for the
            // gateway's 34 metrics. Ours are tagged by a handful of states; ASP.NET Core's by route, method and status.
            metrics.AddView(instrument => new MetricStreamConfiguration
            {
                CardinalityLimit = instrument.Meter.Name == GatewayMeter.Name ? OwnMetricSeries : FrameworkMetricSeries,
            });
            // The OTLP push is added once the settings are known (it is optional, and configured like the rest).
            ((IDeferredMeterProviderBuilder)metrics).Configure((sp, builder) =>
            {
                if (sp.GetRequiredService<IOptions<MetricsOptions>>().Value.OtlpEndpoint is { Length: > 0 } endpoint)
                    builder.AddReader(new PeriodicExportingMetricReader(new OtlpMetricExporter(new OtlpExporterOptions { Endpoint = new Uri(endpoint) })));
            });
        });

        services.AddHealthChecks()
            .AddCheck<DatabaseWritableCheck>("database", tags: [Ready])
            .AddCheck<WriterProgressCheck>("readings-writer", tags: [Ready])
            .AddCheck<MqttConnectedCheck>("mqtt", tags: [Ready]);
        services.AddSingleton<WriterProgressCheck>();
        return services;
    }

    public static WebApplication MapObservability(this WebApplication app)
    {
        var anonymous = app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value.AllowAnonymous;
        app.MapPrometheusScrapingEndpoint(MetricsPath, meterProvider: null, configureBranchedPipeline: anonymous ? null : RequireViewerKey, optionsName: null);

        // Liveness runs no check: the process answers. Readiness runs every "ready" check and says which failed.
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(Ready), ResponseWriter = WriteReport });
        return app;
    }

    /// <summary>An API key of any role (viewer and up), as /api/status asks; 401/403 otherwise.</summary>
    private static void RequireViewerKey(IApplicationBuilder branch) =>
        branch.Use(async (context, next) =>
        {
            var header = context.Request.Headers.Authorization.ToString();
            var identity = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                ? context.RequestServices.GetRequiredService<IdentityStore>().Authenticate(header["Bearer ".Length..].Trim())
                : null;
            if (identity is not { DeviceId: null })
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "An API key is required",
                    detail: "Send 'Authorization: Bearer <key>' with a key from 'keys add', or set Gateway:Metrics:AllowAnonymous.").ExecuteAsync(context);
                return;
            }
            if (!Roles.CanView(identity.Role))
            {
                await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: $"Role '{identity.Role}' may not read metrics.").ExecuteAsync(context);
                return;
            }
            await next(context);
        });

    /// <summary>{"status":"Unhealthy","checks":[{"name":"database","status":"Healthy","description":"…"},…]}</summary>
    private static Task WriteReport(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = Wire.WireJson.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("status", report.Status.ToString());
            json.WriteStartArray("checks");
            foreach (var (name, entry) in report.Entries)
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                json.WriteString("status", entry.Status.ToString());
                json.WriteString("description", entry.Description);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        });
        return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }
}
