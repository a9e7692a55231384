using IotWs.Gateway.Http;

namespace IotWs.Gateway.Status;

/// <summary>GET /api/status and GET /api/me.</summary>
public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").RequireAuthorization(AccessPolicies.Viewer);
        api.MapGet("/status", (GatewayStatus status) => Results.Text(Wire.WireJson.ToText(status.GetStatus()), "application/json"));
        api.MapGet("/me", (System.Security.Claims.ClaimsPrincipal user) => Results.Json(new { name = user.Principal(), role = user.Role() }));
        return app;
    }
}
