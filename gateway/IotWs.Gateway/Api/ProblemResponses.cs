using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace IotWs.Gateway.Api;

/// <summary>
/// Every HTTP error is an RFC 9457 problem (application/problem+json) with a detail: the handlers' own problems,
/// the empty 401/403/404/405 that routing and authorization leave, parameter-binding failures
/// (<c>?limit=abc</c>) and unhandled exceptions (500, the exception stays in the log).
/// </summary>
public static partial class ProblemResponses
{
    public static IServiceCollection AddProblemResponses(this IServiceCollection services)
    {
        Http.HttpJson.AddCompiledHttpJson(services);
        services.AddProblemDetails(o => o.CustomizeProblemDetails = context => AddDetail(context.ProblemDetails, context.HttpContext));
        services.AddExceptionHandler<BadRequestHandler>();
        // Binding failures throw BadHttpRequestException (handled above, with its message as the detail)
        // instead of answering an empty 400; Development does this already, now every environment does.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    /// <summary>Outermost error handling: exceptions → problem, then empty error answers → problem.</summary>
    public static IApplicationBuilder UseProblemResponses(this IApplicationBuilder app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }

    /// <summary>A detail for the problems nobody wrote one for, said from the request's point of view.</summary>
    internal static void AddDetail(ProblemDetails problem, HttpContext http)
    {
        if (!string.IsNullOrEmpty(problem.Detail)) return;
        var path = http.Request.Path.Value;
        problem.Detail = problem.Status switch
        {
            StatusCodes.Status400BadRequest => "The request is malformed.",
            StatusCodes.Status401Unauthorized => "Send 'Authorization: Bearer <key>' with a valid key from 'keys add'.",
            StatusCodes.Status403Forbidden => "This key's role may not do this.",
            StatusCodes.Status404NotFound => $"Nothing is served at '{path}'.",
            StatusCodes.Status405MethodNotAllowed => $"'{http.Request.Method}' is not allowed on '{path}'" + AllowedMethods(http),
            StatusCodes.Status413PayloadTooLarge => "The request body is too large.",
            StatusCodes.Status429TooManyRequests => "Too many requests; try again later.",
            >= 500 => "The gateway could not complete the request; the cause is in its log.",
            _ => problem.Title ?? "The request failed.",
        };
    }

    private static string AllowedMethods(HttpContext http)
    {
        var allow = http.Response.Headers.Allow.ToString();
        return allow.Length > 0 ? $"; allowed: {allow}." : ".";
    }

    /// <summary>
    /// A request the framework refused while reading it (unbindable parameter, bad body, too large): its own status
    /// and message, logged at debug level only, since bad input is the caller's mistake, not the gateway's.
    /// </summary>
    private sealed partial class BadRequestHandler(IProblemDetailsService problems, ILogger<BadRequestHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is not BadHttpRequestException bad) return false;
            LogRefused(logger, http.Request.Method, http.Request.Path.Value, bad.Message);
            http.Response.StatusCode = bad.StatusCode;
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = http,
                Exception = exception,
                ProblemDetails = new ProblemDetails { Status = bad.StatusCode, Detail = bad.Message },
            });
        }

        [LoggerMessage(LogLevel.Debug, "{Method} {Path} refused: {Reason}")]
        private static partial void LogRefused(ILogger logger, string method, string? path, string reason);
    }
}
