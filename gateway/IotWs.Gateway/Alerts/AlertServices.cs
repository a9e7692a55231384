using Microsoft.AspNetCore.Http.HttpResults;
using System.Globalization;
using System.Text.Json.Nodes;
using IotWs.Gateway.Http;
using IotWs.Gateway.Status;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Alerts;

/// <summary>Registers alert rules, their store and GET /api/alerts.</summary>
public static class AlertServices
{
    private const int DefaultListLimit = 100;
    private const int MaxListLimit = 1000;

    public static IServiceCollection AddAlerts(this IServiceCollection services)
    {
        services.AddOptions<AlertOptions>().BindConfiguration(AlertOptions.Section).ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<AlertOptions>, AlertDefaults>();
        services.AddSingleton<IValidateOptions<AlertOptions>, AlertOptionsValidator>();
        services.AddSingleton<AlertEvaluator>();
        services.AddSingleton<SensorHealthWindow>();
        services.AddHostedService(sp => sp.GetRequiredService<SensorHealthWindow>()); // created at start, so it hears every heartbeat
        services.AddHostedService(sp => sp.GetRequiredService<AlertEvaluator>());
        services.AddSingleton<IStatusContributor, AlertStatus>();
        return services;
    }

    /// <summary>
    /// GET /api/alerts[?state=active|cleared][&amp;deviceId=…][&amp;limit=…] (viewer and up, newest first),
    /// POST /api/alerts/{id}/ack (technician and up), GET /api/alerts/sensors (viewer and up).
    /// </summary>
    public static IEndpointRouteBuilder MapAlertsApi(this IEndpointRouteBuilder app)
    {
        // limit is read as text and parsed here, not bound as an int?: the request delegate generator answers an
        // optional number it cannot parse (?limit=abc) with an empty 400 and never throws the BadHttpRequestException
        // that names the parameter, whatever RouteHandlerOptions.ThrowOnBadRequest says (required ones it does name).
        app.MapGet("/api/alerts", Results<ProblemHttpResult, ContentHttpResult> (IAlertStore store, string? state, string? deviceId, string? limit) =>
        {
            if (state is not (null or Alert.Active or Alert.Cleared))
                return TypedResults.Problem(statusCode: 400, title: "Bad state", detail: "state must be 'active' or 'cleared'.");
            var count = DefaultListLimit;
            if (!string.IsNullOrEmpty(limit) && (!int.TryParse(limit, CultureInfo.InvariantCulture, out count) || count is < 1 or > MaxListLimit))
                return TypedResults.Problem(statusCode: 400, title: "Bad limit", detail: $"limit must be an integer between 1 and {MaxListLimit}; got '{limit}'.");
            var alerts = new JsonArray();
            foreach (var alert in store.List(state, string.IsNullOrEmpty(deviceId) ? null : deviceId, count)) alerts.Add((JsonNode)Alert.FromRow(alert).ToJson());
            return TypedResults.Text(WireJson.ToText(alerts), "application/json");
        }).RequireAuthorization(AccessPolicies.Viewer);

        // Acknowledging changes what every operator sees as needing attention, so it takes a technician:
        // a viewer (a household member) only looks. The first acknowledgement is kept; repeating it is harmless.
        app.MapPost("/api/alerts/{id}/ack", Results<ProblemHttpResult, ContentHttpResult> (long id, System.Security.Claims.ClaimsPrincipal user, AlertEvaluator evaluator) =>
        {
            var alert = evaluator.Acknowledge(id, user.Principal());
            return alert is null
                ? TypedResults.Problem(statusCode: 404, title: "No such alert", detail: $"There is no alert {id}.")
                : TypedResults.Text(WireJson.ToText(alert.ToJson()), "application/json");
        }).RequireAuthorization(AccessPolicies.Technician);

        // Sensor failures judged over the window (not since boot), for the dashboard's cards.
        app.MapGet("/api/alerts/sensors", (SensorHealthWindow sensors) => TypedResults.Text(WireJson.ToText(sensors.ToJson()), "application/json"))
            .RequireAuthorization(AccessPolicies.Viewer);
        return app;
    }
}

/// <summary>The "alerts" section of /api/status.</summary>
internal sealed class AlertStatus(AlertEvaluator evaluator) : IStatusContributor
{
    public string Section => "alerts";

    public JsonNode? Snapshot() => new JsonObject
    {
        ["active"] = evaluator.ActiveCount,
        ["rules"] = new JsonArray(evaluator.Rules.Select(r => (JsonNode?)JsonValue.Create(r.Name)).ToArray()),
    };
}
