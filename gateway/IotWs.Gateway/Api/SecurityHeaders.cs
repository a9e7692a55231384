namespace IotWs.Gateway.Api;

/// <summary>
/// Browser hardening on every answer (dashboard page, its scripts, /api/*, errors): a Content-Security-Policy that
/// allows only the gateway's own files (the dashboard has no inline script or style and loads nothing from elsewhere)
/// and no framing, X-Content-Type-Options: nosniff, and no Referer leaving the page.
/// </summary>
public static class SecurityHeaders
{
    /// <summary>The dashboard's policy: its own scripts, styles, images and WebSocket, nothing inline, never framed.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>
    /// The API reference page (Scalar) starts itself with an inline script and styles itself inline; it still loads
    /// nothing from elsewhere and is never framed.
    /// </summary>
    public const string ApiReferencePolicy =
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            // Set when the answer starts, so error handlers that clear the headers cannot drop them.
            context.Response.OnStarting(static state =>
            {
                var http = (HttpContext)state;
                var headers = http.Response.Headers;
                headers.ContentSecurityPolicy = http.Request.Path.StartsWithSegments(ApiReference.PagePath) ? ApiReferencePolicy : ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                return Task.CompletedTask;
            }, context);
            return next(context);
        });
}
