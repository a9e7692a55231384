using IotWs.Gateway.Identity;
using IotWs.Protocol;
using Microsoft.AspNetCore.Authentication;

namespace IotWs.Gateway.Http;

/// <summary>
/// The HTTP API's authorization policies, one per role level (viewer &lt; technician &lt; admin); a device token
/// passes none of them. Applied with RequireAuthorization on each MapGroup; docs/access.md is the table.
/// </summary>
public static class AccessPolicies
{
    public const string Viewer = "viewer";
    public const string Technician = "technician";
    public const string Admin = "admin";

    /// <summary>Authentication (API keys, login sessions, device tokens), the role policies and problem+json refusals.</summary>
    public static IServiceCollection AddGatewayAuthentication(this IServiceCollection services)
    {
        services.AddOptions<IdentityOptions>().BindConfiguration(IdentityOptions.Section).ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<IdentityOptions>, IdentityOptionsValidator>();
        services.AddSingleton<IdentityCache>();
        services.AddHostedService<IdentityWatch>();
        services.AddProblemDetails();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(Viewer, p => p.RequireAuthenticatedUser().RequireRole(Roles.Viewer, Roles.Technician, Roles.Admin))
            .AddPolicy(Technician, p => p.RequireAuthenticatedUser().RequireRole(Roles.Technician, Roles.Admin))
            .AddPolicy(Admin, p => p.RequireAuthenticatedUser().RequireRole(Roles.Admin));
        return services;
    }
}
