using System.Security.Claims;
using System.Text.Json;
using IotWs.Gateway.Identity;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Http;

/// <summary>
/// Login links: POST /api/session {"code"} exchanges the one-time code of a link from
/// <c>keys login-link</c> for a session token with that key's role (the dashboard then uses it as its
/// bearer token); DELETE /api/session ends the session it is called with.
/// </summary>
public static class SessionApi
{
    /// <summary>A login code body is a few dozen bytes; the rest of a larger one is not read.</summary>
    private const int MaxBodyBytes = 4096;

    public static IEndpointRouteBuilder MapSessionApi(this IEndpointRouteBuilder app)
    {
        var session = app.MapGroup("/api/session");
        session.MapPost("", Redeem).AllowAnonymous();
        session.MapDelete("", End).RequireAuthorization(AccessPolicies.Viewer);
        return app;
    }

    private static async Task<IResult> Redeem(HttpRequest request, IdentityStore store, IdentityCache cache, IOptions<IdentityOptions> options, TimeProvider time)
    {
        string? code = null;
        try
        {
            // Lone surrogate escapes read as U+FFFD (an unknown code, not a 500); a login code is short.
            using var body = await Wire.WireMessage.ParseAsync(request.Body, MaxBodyBytes, new JsonDocumentOptions { MaxDepth = 4 }, request.HttpContext.RequestAborted);
            if (body.RootElement.ValueKind == JsonValueKind.Object && body.RootElement.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String)
                code = c.GetString();
        }
        catch (JsonException)
        {
        }
        if (code is null)
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "A login code is required", detail: "Send {\"code\":\"iwl_…\"} from a link made by 'keys login-link <name>'.");
        var redeemed = store.RedeemLoginCode(code, time.GetUtcNow(), options.Value.SessionLifetime);
        if (redeemed is null)
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "This login link is used, expired or unknown",
                detail: $"A login link works once, for {IdentityStore.LoginCodeLifetime.TotalMinutes:0} minutes, while its key is active. Ask for a new one ('keys login-link <name>').");
        return TypedResults.Ok(new SessionGrant(redeemed.Token, redeemed.Identity.Principal, redeemed.Identity.Role, redeemed.Identity.ExpiresAt));
    }

    private static IResult End(ClaimsPrincipal user, IdentityStore store)
    {
        if (user.FindFirstValue(GatewayClaims.LoginSession) is null)
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Not a login session",
                detail: "This request used an API key, which only 'keys revoke <name>' ends; DELETE /api/session ends a session made from a login link.");
        store.RevokeLoginSession(user.FindFirstValue(GatewayClaims.Credential)!);
        return Results.NoContent();
    }
}
