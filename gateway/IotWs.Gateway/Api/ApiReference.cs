using IotWs.Gateway.Observability;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace IotWs.Gateway.Api;

/// <summary>Settings of section "Gateway:ApiReference".</summary>
public sealed class ApiReferenceOptions
{
    public const string Section = "Gateway:ApiReference";

    /// <summary>Serve the OpenAPI document and the page to try the API (off unless an admin turns it on).</summary>
    public bool Enabled { get; set; }
}

/// <summary>
/// The REST API described: an OpenAPI document at /openapi/v1.json (from the endpoints' typed results) and a page to
/// try it at /scalar. Both are off by default: an admin turns them on with Gateway:ApiReference:Enabled. They hold
/// no data, and every call made from the page needs a key (Bearer) with the role the route asks for.
/// </summary>
public static class ApiReference
{
    public const string PagePath = "/scalar";
    public const string DocumentPath = "/openapi/v1.json";
    internal const string BearerScheme = "Bearer";

    public static IServiceCollection AddApiReference(this IServiceCollection services)
    {
        services.AddOptions<ApiReferenceOptions>().BindConfiguration(ApiReferenceOptions.Section);
        return services;
    }

    /// <summary>
    /// The OpenAPI services, only when the reference is on: registered, they load MVC's API explorer and the OpenAPI
    /// model at start (a few MB resident on a Pi that never serves the document). Called last, once every
    /// configuration source is in.
    /// </summary>
    public static WebApplicationBuilder AddApiReferenceDocument(this WebApplicationBuilder builder)
    {
        if (builder.Configuration.GetSection(ApiReferenceOptions.Section).GetValue<bool>(nameof(ApiReferenceOptions.Enabled)))
            AddOpenApiServices(builder.Services);
        return builder;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void AddOpenApiServices(IServiceCollection services) => services.AddOpenApi(o => o.AddDocumentTransformer(DescribeDocument));

    public static WebApplication MapApiReference(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<ApiReferenceOptions>>().Value.Enabled) MapDocumentAndPage(app);
        return app;
    }

    // This and AddOpenApiServices are methods of their own, not inlined, so a gateway with the reference off never loads the OpenAPI and
    // Scalar assemblies.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void MapDocumentAndPage(WebApplication app)
    {
        app.MapOpenApi().ExcludeFromDescription();
        app.MapScalarApiReference(PagePath, o => o
            .WithTitle("IotWs gateway API")
            .DisableDefaultFonts()
            .AddPreferredSecuritySchemes(BearerScheme));
    }

    /// <summary>Adds the API key scheme, and the routes that are not minimal-API handlers (WebSocket, metrics, health).</summary>
    private static Task DescribeDocument(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken ct)
    {
        document.Info.Title = "IotWs gateway";
        document.Info.Description = "The gateway's REST API. Send 'Authorization: Bearer <key>' with a key from 'keys add'; each route says the role it needs.";
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key from 'keys add <name> --role viewer|technician|admin'.",
        };
        document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] }];
        document.Paths ??= [];
        document.Paths["/ws"] = Get("WebSocket",
            "The device and client WebSocket (also at / for the seed's ESP32 sketch); the messages are in docs/protocol.md.",
            ("101", "Switching Protocols", null), ("400", "Not a WebSocket request", null));
        document.Paths[ObservabilityServices.MetricsPath] = Get("Observability",
            "Prometheus scrape endpoint (OpenTelemetry): needs a key of any role unless Gateway:Metrics:AllowAnonymous.",
            ("200", "Metrics in the Prometheus text exposition format", "text/plain"), ("401", "No valid key", "application/problem+json"));
        document.Paths["/healthz"] = Get("Observability", "Liveness: the process answers. No key needed.",
            ("200", "Healthy", "text/plain"));
        document.Paths["/readyz"] = Get("Observability",
            "Readiness: the database takes writes, the readings writer is not stalled, and MQTT is connected when enabled. No key needed.",
            ("200", "Ready", "application/json"), ("503", "Not ready; the failing checks are named", "application/json"));
        return Task.CompletedTask;
    }

    private static OpenApiPathItem Get(string tag, string description, params (string Status, string Description, string? ContentType)[] responses)
    {
        var operation = new OpenApiOperation
        {
            Summary = description,
            Tags = new HashSet<OpenApiTagReference> { new(tag) },
            Responses = [],
        };
        foreach (var (status, text, contentType) in responses)
        {
            var response = new OpenApiResponse { Description = text };
            if (contentType is not null) response.Content = new Dictionary<string, OpenApiMediaType> { [contentType] = new() };
            operation.Responses[status] = response;
        }
        return new OpenApiPathItem { Operations = new Dictionary<HttpMethod, OpenApiOperation> { [HttpMethod.Get] = operation } };
    }
}
