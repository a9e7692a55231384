using System.Security.Claims;
using System.Text.Encodings.Web;
using IotWs.Gateway.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Http;

/// <summary>
/// ASP.NET Core authentication for "Authorization: Bearer &lt;secret&gt;", where the secret is an API key, a login
/// session token or a device token, resolved through <see cref="IdentityCache"/> (no database read per request).
/// No header is no result (anonymous); a wrong secret fails; challenges and refusals answer problem+json.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    IdentityCache identities)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "Bearer";
    private const string BearerPrefix = "Bearer ";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0) return Task.FromResult(AuthenticateResult.NoResult());
        if (!header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
            return Task.FromResult(AuthenticateResult.Fail("The Authorization header is not 'Bearer <key>'."));
        var identity = identities.Authenticate(header[BearerPrefix.Length..].Trim());
        if (identity is null) return Task.FromResult(AuthenticateResult.Fail("The key is unknown or revoked."));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(GatewayClaims.For(identity), SchemeName, ClaimTypes.Name, ClaimTypes.Role));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var sent = Request.Headers.Authorization.Count > 0;
        Response.Headers.WWWAuthenticate = sent ? "Bearer error=\"invalid_token\"" : "Bearer";
        var problem = sent
            ? Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "The API key is wrong, unknown or revoked",
                detail: $"{result.Failure?.Message} Check the key (it is shown once by 'keys add'), or ask for a new one.")
            : Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "An API key is required",
                detail: "Send 'Authorization: Bearer <key>' with a key from 'keys add' (or log in with a link from 'keys login-link').");
        await problem.ExecuteAsync(Context);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var role = Context.User.FindFirstValue(ClaimTypes.Role) ?? "none";
        await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
            detail: $"Role '{role}' may not {Request.Method} {Request.Path}: see docs/access.md for who may do what.").ExecuteAsync(Context);
    }
}

/// <summary>The claims of an authenticated caller, and reading them back in handlers.</summary>
public static class GatewayClaims
{
    /// <summary>The stored hash of the secret the caller used (to end a login session).</summary>
    public const string Credential = "iotws:credential";
    public const string DeviceId = "iotws:device";
    public const string LoginSession = "iotws:login-session";

    internal static IEnumerable<Claim> For(Identity.Identity identity)
    {
        yield return new Claim(ClaimTypes.Name, identity.Principal);
        yield return new Claim(ClaimTypes.Role, identity.Role);
        yield return new Claim(Credential, identity.Credential);
        if (identity.DeviceId is { } device) yield return new Claim(DeviceId, device);
        if (identity.ExpiresAt is { } end) yield return new Claim(LoginSession, end.ToString("O"));
    }

    /// <summary>Who is calling, for audit logs: the API key's name (also for its login sessions) or "device:{id}".</summary>
    public static string Principal(this ClaimsPrincipal user) => user.Identity?.Name ?? throw new InvalidOperationException("The endpoint does not require authorization.");

    public static string Role(this ClaimsPrincipal user) => user.FindFirstValue(ClaimTypes.Role) ?? throw new InvalidOperationException("The endpoint does not require authorization.");
}
