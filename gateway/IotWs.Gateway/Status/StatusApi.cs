using IotWs.Gateway.Http;

namespace IotWs.Gateway.Status;

/// <summary>GET /api/status and GET /api/me.</summary>
public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").RequireViewer();
        api.MapGet("/status", (GatewayStatus status) => Results.Text(Wire.WireJson.ToText(status.GetStatus()), "application/json"));
        api.MapGet("/me", (HttpContext http) => Results.Json(new { name = http.Caller().Principal, role = http.Caller().Role }));
        return app;
    }
}
