using IotWs.Gateway.Identity;
using IotWs.Protocol;

namespace IotWs.Gateway.Http;

/// <summary>HTTP API authorization: "Authorization: Bearer &lt;api key&gt;", checked against the role an endpoint needs.</summary>
public static class ApiKeyAuth
{
    private const string CallerKey = "iotws.caller";

    /// <summary>Requires a key whose role passes <paramref name="allowed"/>: 401 without a valid key, 403 with the wrong role.</summary>
    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, Func<string, bool> allowed) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var caller = Authenticate(http);
            if (caller is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Results.Problem(statusCode: 401, title: "An API key is required", detail: "Send 'Authorization: Bearer <key>' with a key from 'keys add'.");
            }
            if (!allowed(caller.Role))
            {
                return Results.Problem(statusCode: 403, title: "Forbidden", detail: $"Role '{caller.Role}' may not do this.");
            }
            http.Items[CallerKey] = caller;
            return await next(context);
        });

    public static TBuilder RequireViewer<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireRole(Roles.CanView);

    public static TBuilder RequireTechnician<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireRole(Roles.CanOperate);

    /// <summary>The authenticated caller of this request (set by the role filter).</summary>
    public static Identity.Identity Caller(this HttpContext http) =>
        http.Items[CallerKey] as Identity.Identity ?? throw new InvalidOperationException("Endpoint has no role filter.");

    private static Identity.Identity? Authenticate(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return null;
        var key = header["Bearer ".Length..].Trim();
        var identity = http.RequestServices.GetRequiredService<IdentityStore>().Authenticate(key);
        return identity is { DeviceId: null } ? identity : null;
    }
}
