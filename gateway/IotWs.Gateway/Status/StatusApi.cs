using IotWs.Gateway.Http;

namespace IotWs.Gateway.Status;

/// <summary>GET /api/status and GET /api/me.</summary>
public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").RequireAuthorization(AccessPolicies.Viewer);
        api.MapGet("/status", (GatewayStatus status) => TypedResults.Bytes(Wire.WireJson.ToBytes(status.GetStatus()), "application/json"));
        api.MapGet("/me", (System.Security.Claims.ClaimsPrincipal user) => TypedResults.Ok(new Caller(user.Principal(), user.Role())));
        return app;
    }

    /// <summary>GET /api/me: who the key belongs to and its role.</summary>
    public sealed record Caller(string Name, string Role);
}
